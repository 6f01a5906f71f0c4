"""One async client for any OpenAI-compatible chat endpoint (vLLM, SGLang, OpenAI), shared by all stages.

Bounded concurrency, retries with exponential backoff and jitter, per-request timeouts, and a
content-addressed SQLite cache so that a rerun never sends the same request twice. The HTTP side
(a keep-alive aiohttp pool) is in :mod:`raif_rewards.chat_http`; the chat JSON is built and read here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from raif_rewards.errors import EndpointError

if TYPE_CHECKING:
    from raif_rewards.endpoints import EndpointPool

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Request fields that are not sampling parameters and must not enter the cache key.
_NOT_IN_KEY = {"timeout", "extra_headers", "stream"}


@dataclass(frozen=True)
class Choice:
    text: str
    reasoning: str | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ChatResult:
    """The first choice's text (plus every choice when ``n > 1``) and what the server said about it."""

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    #: top logprobs of the first generated tokens: one ``{token: logprob}`` dict per position
    logprobs: list[dict[str, float]] | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False
    choices: tuple[Choice, ...] = ()

    def to_json(self) -> str:
        # the fields of dataclasses.asdict (minus ``cached``) in its order, without its deep copies
        # (which cost more than the HTTP request); test_llm pins the equality
        choices = [{"text": c.text, "reasoning": c.reasoning, "finish_reason": c.finish_reason} for c in self.choices]
        data = {"text": self.text, "reasoning": self.reasoning, "finish_reason": self.finish_reason,
                "logprobs": self.logprobs, "usage": self.usage, "choices": choices}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, cached: bool) -> ChatResult:
        data = json.loads(text)
        data["choices"] = tuple(Choice(**c) for c in data.get("choices", ()))
        return cls(**data, cached=cached)


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class _MalformedResponse(Exception):
    """The server answered 200 with something that is not a usable chat completion."""


class ResponseCache:
    """A content-addressed SQLite cache of chat results (safe across processes: WAL, busy timeout).

    Reads and writes use separate connections: in WAL mode a lookup then never waits for a commit's
    fsync, which the client runs in a worker thread.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock, self._read_lock = threading.Lock(), threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS chat (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()
        self._reader = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)

    def get(self, key: str) -> str | None:
        with self._read_lock:
            row = self._reader.execute("SELECT value FROM chat WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Sequence[tuple[str, str]]) -> None:
        """Store ``(key, value)`` pairs in one committed transaction (one fsync for the group)."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO chat (key, value) VALUES (?, ?)", items)
            self._db.commit()

    def __len__(self) -> int:
        with self._read_lock:
            return self._reader.execute("SELECT COUNT(*) FROM chat").fetchone()[0]

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._db.close()


def request_key(model: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    """sha256 of the request without the endpoint: the same question to the same model is one entry
    whichever server answered it."""
    body = {"model": model, "messages": list(messages),
            "params": {k: v for k, v in params.items() if k not in _NOT_IN_KEY}}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class LLMClient:
    """Async chat client: ``await client.chat(messages, **params) -> ChatResult``.

    ``params`` are OpenAI chat-completion parameters (``temperature``, ``max_tokens``, ``n``,
    ``logprobs``, ``top_logprobs``, ``seed`` ...) sent as given, plus the OpenAI SDK's request options
    ``extra_body`` (merged into the request), ``extra_headers``, ``extra_query`` and ``timeout``
    (seconds, this call only). ``cache_salt`` (not sent) separates cache entries of otherwise
    identical sampled requests. Failures after ``max_retries`` retries raise :class:`EndpointError`.
    A ``Retry-After`` header lengthens the wait before the next attempt, up to ``retry_after_max``
    seconds; answers over ``max_body_bytes`` are refused.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 5,
        cache_path: str | Path | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        seed: int = 0,
        max_body_bytes: int | None = None,
        retry_after_max: float = 60.0,
    ):
        from raif_rewards.endpoints import Endpoint, endpoint_urls

        #: several servers share the requests (:mod:`raif_rewards.endpoints`), ``concurrency`` each
        self.base_urls = endpoint_urls(base_url)
        self.endpoints = [Endpoint(u) for u in self.base_urls]
        self.base_url, self.model = ", ".join(self.base_urls), model
        self.api_key = api_key or "EMPTY"
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        from raif_rewards.chat_http import DEFAULT_MAX_BODY_BYTES

        #: the largest answer body read; a longer one is an endpoint error, never cached
        self.max_body_bytes = max_body_bytes or DEFAULT_MAX_BODY_BYTES
        #: the longest wait a server's ``Retry-After`` may ask for between two attempts
        self.retry_after_max = retry_after_max
        self.cache = ResponseCache(cache_path) if cache_path else None
        self._rng = random.Random(seed)  # jitter only; never affects outputs
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "Authorization": f"Bearer {self.api_key}"}
        self._per_loop: dict[int, _LoopState] = {}
        #: requests actually sent to the server (attempts, retries included)
        self.requests_sent = 0

    # A connection pool and a semaphore belong to one event loop; ``run_sync`` makes a loop per call.
    async def _for_loop(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(id(loop))
        if state is None or state.loop is not loop:
            from raif_rewards.endpoints import EndpointPool

            for key in [k for k, v in self._per_loop.items() if v.loop.is_closed()]:
                del self._per_loop[key]
            # opening does not suspend (nothing in it awaits I/O), so no other task can open a second one
            pool = EndpointPool(self.endpoints, self.concurrency)
            await pool.open(self.timeout)
            state = _LoopState(loop, pool, self.cache)
            self._per_loop[id(loop)] = state
        return state

    def _request(
        self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> tuple[bytes, Mapping[str, str], float | None, Mapping[str, str] | None]:
        """The request body and options, as the OpenAI SDK would have sent them."""
        body: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        headers, timeout, query = self._headers, None, None
        for name, value in params.items():
            if name == "extra_body":
                continue
            if name == "extra_headers":
                headers = {**self._headers, **(value or {})}
                bad = [k for k, v in headers.items() if any(c in f"{k}{v}" for c in "\r\n")]
                if bad:  # a header split by a line break would inject another header or request
                    raise ValueError(f"extra_headers: {bad[0]!r} holds a line break")
            elif name == "timeout":
                timeout = value
            elif name == "extra_query":
                query = value
            elif name == "stream" and value:
                raise ValueError("stream=True is not supported: the client reads whole completions")
            else:
                body[name] = value
        body.update(params.get("extra_body") or {})
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        return payload, headers, timeout, query

    async def chat(
        self, messages: Sequence[Mapping[str, Any]], *, cache_salt: str | None = None, **params: Any
    ) -> ChatResult:
        key = ""
        if self.cache is not None:
            key_params = dict(params, cache_salt=cache_salt) if cache_salt is not None else params
            key = request_key(self.model, messages, key_params)
            hit = self.cache.get(key)
            if hit is not None:
                return ChatResult.from_json(hit, cached=True)
        payload, headers, timeout, query = self._request(messages, params)
        state = await self._for_loop()
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
                delay *= 0.5 + self._rng.random()
                # a server that says when to come back is believed, up to retry_after_max
                await asyncio.sleep(max(delay, min(_retry_after(last), self.retry_after_max)))
            async with state.pool.slot() as slot:
                self.requests_sent += 1
                try:
                    raw = await slot.session.post_json(slot.url, payload, headers, timeout=timeout, query=query,
                                                       max_body_bytes=self.max_body_bytes)
                    result = _to_result(raw)
                except Exception as exc:  # classified here: only transient failures are retried
                    if not _retryable(exc):
                        raise EndpointError(f"{slot.endpoint.base_url} ({self.model}): {_describe(exc)}") from exc
                    slot.fail()  # the next attempt (and other requests) go to another endpoint if any
                    last = exc
                    log.debug("attempt %d to %s failed: %s", attempt + 1, slot.endpoint.base_url, _describe(exc))
                    continue
                if self.cache is not None:
                    # the slot is held until the answer is on disk, so that a crash re-asks at most
                    # ``concurrency`` requests
                    await state.store(key, result.to_json())
            return result
        raise EndpointError(
            f"{self.base_url} ({self.model}): failed after {self.max_retries + 1} attempts; "
            f"last error: {_describe(last)}"
        ) from last

    async def chat_many(
        self, requests: Sequence[tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]]
    ) -> list[ChatResult | EndpointError]:
        """Every request concurrently (bounded by ``concurrency``), results in order; a request that
        failed after its retries is returned as its :class:`EndpointError`, not raised."""

        async def one(messages, params) -> ChatResult | EndpointError:
            try:
                return await self.chat(messages, **dict(params))
            except EndpointError as exc:
                return exc

        return list(await asyncio.gather(*(one(m, p) for m, p in requests)))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._per_loop.pop(id(loop), None)
        if state is not None:
            await state.pool.aclose()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


class _LoopState:
    """What a client keeps per event loop: its endpoints (connections and concurrency bounds), and the
    cache writes waiting for the next group commit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: EndpointPool, cache: ResponseCache | None):
        self.loop, self.pool, self.cache = loop, pool, cache
        #: the answers waiting for the next commit, and the future their chat calls wait on
        self._batch: tuple[list[tuple[str, str]], asyncio.Future] | None = None
        self._committing = False

    async def store(self, key: str, value: str) -> None:
        """Cache one result; returns once it is committed.

        A commit costs an fsync (0.2 to over 1 ms): one per answer, on the event loop, stalled the
        loop for a quarter of its time at 1,000 req/s. Commits run in a worker thread instead, one at
        a time, each taking every answer that arrived while the previous one was on disk (a group
        commit). No answer is handed on before its commit: a crash loses only answers nobody has seen.
        """
        if self._batch is None:
            self._batch = ([], self.loop.create_future())
            if not self._committing:
                self._committing = True
                self.loop.call_soon(self._commit_next)
        items, committed = self._batch
        items.append((key, value))
        # shielded: a cancelled waiter must not cancel the commit the others wait for
        await asyncio.shield(committed)

    def _commit_next(self) -> None:
        if self._batch is None:
            self._committing = False
            return
        (items, committed), self._batch = self._batch, None
        assert self.cache is not None
        work = self.loop.run_in_executor(None, self.cache.put_many, items)
        work.add_done_callback(lambda done: self._committed(done, committed))

    def _committed(self, work: asyncio.Future, committed: asyncio.Future) -> None:
        # every waiter sees a failure, as a lone put would have raised
        error = asyncio.CancelledError() if work.cancelled() else work.exception()
        if error is None:
            committed.set_result(None)
        else:
            committed.set_exception(error)
        self._commit_next()


def _retryable(exc: BaseException) -> bool:
    from raif_rewards.chat_http import HTTPStatusError, is_transport_error

    if isinstance(exc, HTTPStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    if isinstance(exc, _MalformedResponse | json.JSONDecodeError | UnicodeDecodeError):
        return True
    return is_transport_error(exc)


def _retry_after(exc: BaseException | None) -> float:
    """Seconds a 429/503 answer's ``Retry-After`` header asks to wait (delta-seconds or an HTTP date);
    0 when there is none or it cannot be read."""
    value = getattr(exc, "retry_after", None)
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        import email.utils
        import time

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return 0.0
        seconds = when.timestamp() - time.time()
    return seconds if seconds > 0 and seconds == seconds and seconds != float("inf") else 0.0


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt made"
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {exc}"
    # aiohttp words a refused connection "Connect call failed"; the OS's own words name the cause plainly
    errno = getattr(getattr(exc, "os_error", None), "errno", None)
    if errno:
        text = f"{os.strerror(errno)}: {text}"
    return text[:500]


def _to_result(raw: Any) -> ChatResult:
    """A chat.completion JSON object as a ChatResult; anything unusable is a _MalformedResponse (retried)."""
    try:
        return _parse_completion(raw)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise _MalformedResponse(f"{type(exc).__name__}: {exc}; response: {str(raw)[:200]}") from exc


def _parse_completion(raw: Any) -> ChatResult:
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _MalformedResponse(f"no choices in response: {str(raw)[:200]}")
    parsed: list[Choice] = []
    for choice in choices:
        message = choice.get("message")
        if message is None:
            raise _MalformedResponse("a choice without a message")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise _MalformedResponse(f"message content is {type(content).__name__}, not text")
        # vLLM and SGLang name the reasoning field differently
        reasoning = message.get("reasoning_content")
        if reasoning is None:
            reasoning = message.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            raise _MalformedResponse(f"message reasoning is {type(reasoning).__name__}, not text")
        if content is None and not reasoning:
            # not an empty answer: no answer at all. Scored as "" it would be a silent zero, cached for good
            raise _MalformedResponse("message content is null (and no reasoning)")
        for part in (content, reasoning):
            if part and not part.isascii() and _SURROGATE_RE.search(part):
                # a lone surrogate is no text a model can write (and the cache cannot store it)
                raise _MalformedResponse("message holds a lone surrogate (not valid Unicode text)")
        # a reasoning-only answer (content null, reasoning set: the budget ran out while thinking) is
        # a real answer with an empty final part, not an endpoint failure
        parsed.append(Choice(content or "", reasoning, choice.get("finish_reason")))
    logprobs = None
    lp = choices[0].get("logprobs")
    if lp is not None and lp.get("content"):
        logprobs = []
        for pos in lp["content"]:
            top = {t["token"]: float(t["logprob"]) for t in (pos.get("top_logprobs") or [])}
            top.setdefault(pos["token"], float(pos["logprob"]))
            logprobs.append(top)
    usage = raw.get("usage")
    usage = {k: int(v) for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else {}
    return ChatResult(
        text=parsed[0].text,
        reasoning=parsed[0].reasoning,
        finish_reason=parsed[0].finish_reason,
        logprobs=logprobs,
        usage=usage,
        choices=tuple(parsed),
    )


def run_sync(coro: Awaitable[T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when this thread already runs a loop
    (then in a helper thread with its own loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(coro))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_as_coroutine(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="raif-run-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
