"""A real OpenAI-compatible HTTP server on loopback for tests: deterministic answers, chosen logprobs,
artificial latency and scheduled faults (429, 500, hang, malformed JSON, truncated body).

Use the ``openai_stub`` fixture (``from tests.openai_stub import openai_stub_fixture  # noqa: F401``) or
``with OpenAIStub(responder) as stub: ...``; ``stub.base_url`` ends with ``/v1``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAULTS = ("429", "500", "hang", "malformed", "truncated")

Responder = Callable[[dict], "str | dict"]


def echo_responder(request: dict) -> str:
    """The last user message, echoed (the default responder)."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return f"echo: {users[-1]['content'] if users else ''}"


class OpenAIStub:
    """An HTTP server answering ``/v1/chat/completions`` and ``/v1/models``.

    ``responder(request_json)`` returns the completion text, or a dict with any of ``content``,
    ``reasoning_content``, ``finish_reason``, ``top_logprobs`` (one ``{token: logprob}`` per generated
    position), ``usage``. ``faults`` is consumed one entry per chat request (``None`` = answer
    normally); a callable ``faults(index, request) -> fault | None`` is asked instead when given.
    """

    def __init__(
        self,
        responder: Responder = echo_responder,
        *,
        model: str = "stub-model",
        latency: float = 0.0,
        hang_seconds: float = 30.0,
    ):
        self.responder = responder
        self.model = model
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.faults: list[str | None] | Callable[[int, dict], str | None] = []
        self.requests: list[dict] = []
        self.faults_served: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    body = {"object": "list", "data": [{"id": stub.model, "object": "model", "owned_by": "stub"}]}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    request = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "bad json"}}')
                    return
                fault = stub._next_fault(request)
                if stub.latency:
                    stub._stop.wait(stub.latency)
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                               extra={"Retry-After": "0"})
                elif fault == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                elif fault == "hang":
                    stub._stop.wait(stub.hang_seconds)
                    self.close_connection = True
                elif fault == "malformed":
                    self._send(200, b'{"id": "x", "choices": [ this is not json')
                elif fault == "truncated":
                    body = json.dumps(stub._completion(request)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    self._send(200, json.dumps(stub._completion(request)).encode())

            def _send(self, status: int, body: bytes, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ state
    @property
    def base_url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def set_faults(self, faults: Iterable[str | None] | Callable[[int, dict], str | None]) -> None:
        """Schedule faults for the next requests (a list is consumed in order)."""
        with self._lock:
            self.faults = faults if callable(faults) else list(faults)
            for f in ([] if callable(faults) else self.faults):
                if f is not None and f not in FAULTS:
                    raise ValueError(f"unknown fault {f!r}; expected one of {FAULTS}")

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults_served.clear()
            self.faults = []

    def _next_fault(self, request: dict) -> str | None:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            if callable(self.faults):
                fault = self.faults(index, request)
            else:
                fault = self.faults.pop(0) if self.faults else None
            if fault is not None:
                self.faults_served.append(fault)
            return fault

    # ------------------------------------------------------------------ completions
    def _completion(self, request: dict) -> dict:
        n = int(request.get("n") or 1)
        choices = []
        for i in range(n):
            out = self.responder(request)
            spec = {"content": out} if isinstance(out, str) else dict(out)
            message: dict[str, Any] = {"role": "assistant", "content": spec.get("content", "")}
            if spec.get("reasoning_content") is not None:
                message["reasoning_content"] = spec["reasoning_content"]
            choice: dict[str, Any] = {
                "index": i,
                "message": message,
                "finish_reason": spec.get("finish_reason", "stop"),
                "logprobs": None,
            }
            if request.get("logprobs"):
                choice["logprobs"] = _logprobs(spec, int(request.get("top_logprobs") or 0))
            choices.append(choice)
        content = choices[0]["message"]["content"] or ""
        usage = {"prompt_tokens": 1, "completion_tokens": max(1, len(content.split())),
                 "total_tokens": 1 + max(1, len(content.split()))}
        return {
            "id": f"chatcmpl-stub-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": choices,
            "usage": dict(usage, **(spec.get("usage") or {})),
        }


def _logprobs(spec: dict, k: int) -> dict:
    positions = spec.get("top_logprobs")
    if positions is None:  # certain of its own text: one token per whitespace word, logprob 0
        positions = [{tok: 0.0} for tok in (spec.get("content") or "").split()[:1] or [""]]
    content = []
    for top in positions:
        ranked = sorted(top.items(), key=lambda kv: -kv[1])
        token, logprob = ranked[0]
        content.append({
            "token": token,
            "logprob": logprob,
            "bytes": list(token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked[:k]],
        })
    return {"content": content}


@pytest.fixture(name="openai_stub")
def openai_stub_fixture():
    """A started :class:`OpenAIStub` (echo responder, no faults), stopped after the test.

    Import it as ``from tests.openai_stub import openai_stub_fixture  # noqa: F401`` and request
    ``openai_stub`` in tests (the alias keeps ruff's F811 quiet).
    """
    with OpenAIStub() as stub:
        yield stub


openai_stub = openai_stub_fixture  # the name the project brief announced; same fixture
