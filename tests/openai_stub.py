"""A real OpenAI-compatible HTTP server on loopback for tests: deterministic answers, chosen logprobs,
artificial latency and scheduled faults (429, 500, hang, malformed JSON, truncated body) and hostile
answers (null content, lone surrogates, huge and slow-drip bodies, 429 with Retry-After, a connection
reset mid-body).

Use the ``openai_stub`` fixture (``from tests.openai_stub import openai_stub_fixture  # noqa: F401``) or
``with OpenAIStub(responder) as stub: ...``; ``stub.base_url`` ends with ``/v1``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import pytest

FAULTS = ("429", "500", "hang", "malformed", "truncated")
#: a misbehaving server: ``null_content`` (content null, no reasoning), ``reasoning_only`` (content
#: null, reasoning set), ``surrogate`` (a lone surrogate escaped in the JSON), ``huge`` (a
#: ``huge_bytes`` answer), ``drip`` (the body one byte per ``drip_seconds``), ``429_retry_after``
#: (429 with ``Retry-After: retry_after``), ``reset`` (half the body, then a TCP reset)
HOSTILE = ("null_content", "reasoning_only", "surrogate", "huge", "drip", "429_retry_after", "reset")

Responder = Callable[[dict], "str | dict"]


def echo_responder(request: dict) -> str:
    """The last user message, echoed (the default responder)."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return f"echo: {users[-1]['content'] if users else ''}"


class OpenAIStub:
    """An HTTP server answering ``/v1/chat/completions`` and ``/v1/models``.

    ``responder(request_json)`` returns the completion text, or a dict with any of ``content``,
    ``reasoning_content``, ``finish_reason``, ``top_logprobs`` (one ``{token: logprob}`` per generated
    position), ``usage``. It runs on the server's event loop, so it must answer at once: ``latency``
    (seconds before every answer) stands for a slow model. ``faults`` is consumed one entry per chat
    request (``None`` = answer normally); a callable ``faults(index, request) -> fault | None`` is asked
    instead when given. ``max_in_flight`` is the most chat requests the server held at one time.
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
        #: hostile answers' parameters (see :data:`HOSTILE`)
        self.huge_bytes = 20 * 1024 * 1024
        self.drip_seconds = 0.05
        self.retry_after = "2"
        self.faults: list[str | None] | Callable[[int, dict], str | None] = []
        self.requests: list[dict] = []
        #: each chat request's HTTP headers (names in lower case), in the order of ``requests``
        self.headers: list[dict[str, str]] = []
        self.faults_served: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._address: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()

    # ------------------------------------------------------------------ lifecycle
    # One asyncio loop in a background thread serves every connection (keep-alive HTTP/1.1), so the
    # stub's own CPU cost stays far below the rates it is benchmarked at: a thread per connection
    # (http.server) did not keep up with 64 concurrent clients, and handing responders to a thread
    # pool cost a GIL hand-off per request that delayed the loop by milliseconds.
    def start(self) -> OpenAIStub:
        ready = threading.Event()
        failure: list[BaseException] = []
        def serve() -> None:
            loop = asyncio.new_event_loop()
            try:
                server = loop.run_until_complete(
                    loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=1024))
            except BaseException as exc:  # reported by start() in the caller's thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self._loop, self._address = loop, server.sockets[0].getsockname()[:2]
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                for connection in list(self._connections):
                    connection.close()
                loop.run_until_complete(_cancel_all())
                loop.close()

        self._thread = threading.Thread(target=serve, name="openai-stub", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread, self._loop = None, None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP
    async def _answer(self, writer: asyncio.WriteTransport, method: str, route: str, raw: bytes,
                      headers: dict[str, str]) -> bool:
        """Answer one request; False when the connection must be closed afterwards."""
        if method == "GET":
            if route == "/v1/models":
                body = {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "stub"}]}
                _send(writer, 200, json.dumps(body).encode())
            else:
                _send(writer, 404, b'{"error": {"message": "not found"}}')
            return True
        if method != "POST":
            _send(writer, 501, b'{"error": {"message": "unsupported method"}}')
            return True
        if route != "/v1/chat/completions":
            _send(writer, 404, b'{"error": {"message": "not found"}}')
            return True
        try:
            request = json.loads(raw)
        except ValueError:
            _send(writer, 400, b'{"error": {"message": "bad json"}}')
            return True
        fault = self._next_fault(request, headers)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat(writer, request, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _chat(self, writer: asyncio.WriteTransport, request: dict, fault: str | None) -> bool:
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            _send(writer, 429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                  {"Retry-After": "0"})
        elif fault == "500":
            _send(writer, 500, b'{"error": {"message": "internal error"}}')
        elif fault == "hang":
            await asyncio.sleep(self.hang_seconds)
            return False
        elif fault == "malformed":
            _send(writer, 200, b'{"id": "x", "choices": [ this is not json')
        elif fault == "truncated":
            body = json.dumps(self._completion(request)).encode()
            _send(writer, 200, body, cut=len(body) // 2)
            return False
        elif fault in HOSTILE:
            return await self._hostile(writer, request, fault)
        else:
            _send(writer, 200, json.dumps(self._completion(request)).encode())
        return True

    async def _hostile(self, writer: asyncio.WriteTransport, request: dict, fault: str) -> bool:
        completion = self._completion(request)
        message = completion["choices"][0]["message"]
        if fault == "429_retry_after":
            _send(writer, 429, b'{"error": {"message": "slow down"}}', {"Retry-After": self.retry_after})
            return True
        if fault in ("null_content", "reasoning_only"):
            message["content"] = None
            message.pop("reasoning_content", None)
            if fault == "reasoning_only":
                message["reasoning_content"] = "thinking it over, and over"
        elif fault == "surrogate":
            message["content"] = "answer \ud800 broken"  # json.dumps escapes it as \\ud800: valid JSON
        elif fault == "huge":
            message["content"] = "x" * self.huge_bytes
        body = json.dumps(completion).encode()
        if fault == "reset":
            _send(writer, 200, body, cut=len(body) // 2)
            await asyncio.sleep(0.05)
            writer.abort()  # RST, not FIN: "connection reset by peer" mid-body
            return False
        if fault == "drip":
            _send(writer, 200, body, cut=0)
            for i in range(len(body)):
                await asyncio.sleep(self.drip_seconds)
                if writer.is_closing():
                    return False
                writer.write(body[i : i + 1])
            return True
        _send(writer, 200, body)
        return True

    # ------------------------------------------------------------------ state
    @property
    def base_url(self) -> str:
        assert self._address is not None, "stub not started"
        host, port = self._address
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
                if f is not None and f not in FAULTS + HOSTILE:
                    raise ValueError(f"unknown fault {f!r}; expected one of {FAULTS + HOSTILE}")

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.faults_served.clear()
            self.faults = []
            self.max_in_flight = self.in_flight

    def _next_fault(self, request: dict, headers: dict[str, str] | None = None) -> str | None:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            self.headers.append(headers or {})
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


class _Connection(asyncio.Protocol):
    """HTTP/1.1 framing of one keep-alive connection: requests are parsed from the byte stream and
    answered one at a time, in order (a task per request, so that answers can wait)."""

    def __init__(self, stub: OpenAIStub):
        self.stub = stub
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.answering: asyncio.Task | None = None
        self.continued = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stub._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stub._connections.discard(self)
        if self.answering is not None:
            self.answering.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.answering is None:
            self._next_request()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _next_request(self) -> None:
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > 65536:  # not HTTP
                self.close()
            return
        try:
            request_line, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, path, version = request_line.split(" ", 2)
            headers = {name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
            total = end + 4 + int(headers.get("content-length") or 0)
        except ValueError:
            self.close()
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():  # no client of ours sends it
            _send(self.transport, 411, b'{"error": {"message": "send a Content-Length"}}')
            self.close()
            return
        if len(self.buffer) < total:
            if headers.get("expect", "").lower() == "100-continue" and not self.continued:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.continued = True
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        self.continued = False
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        route = path.split("?", 1)[0].rstrip("/")
        self.answering = asyncio.get_running_loop().create_task(self._answer(method, route, body, headers, close))

    async def _answer(self, method: str, route: str, body: bytes, headers: dict[str, str], close: bool) -> None:
        assert self.transport is not None
        try:
            keep_alive = await self.stub._answer(self.transport, method, route, body, headers)
        except asyncio.CancelledError:
            return  # the client went away, or the stub is stopping
        except Exception as exc:  # a responder bug: show it in the test's output and to the client
            traceback.print_exc()
            _send(self.transport, 500, json.dumps({"error": {"message": f"stub responder raised {exc!r}"}}).encode())
            keep_alive = False
        self.answering = None
        if close or not keep_alive:
            self.close()
        elif self.buffer:
            self._next_request()


async def _cancel_all() -> None:
    await asyncio.sleep(0)  # lets the connections closed just before see connection_lost
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _send(writer: asyncio.WriteTransport, status: int, body: bytes, extra: dict | None = None,
          cut: int | None = None) -> None:
    """One write per answer (headers and body together: no Nagle stall between them); ``cut`` sends
    only that many body bytes while announcing all of them (a truncated answer)."""
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (extra or {}).items())]
    writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + (body if cut is None else body[:cut]))


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
