"""Several model servers behind one client: each request goes to the least busy healthy endpoint, each
endpoint has its own concurrency bound, and an endpoint that fails is rested (avoided) for a while.

Used by :class:`raif_rewards.llm.LLMClient` when ``base_url`` is a list; a single URL is a pool of one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raif_rewards.chat_http import Session


def endpoint_urls(value: str | Sequence[str]) -> list[str]:
    """The base URLs named by ``value``: a list, or one string (commas separate several, as a CLI flag
    can only carry one string). Empty names are an error, not silently dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = [str(u).strip().rstrip("/") for u in items]
    if not urls or any(not u for u in urls):
        raise ValueError(f"base_url: expected one or more endpoint URLs, got {value!r}")
    if len(set(urls)) != len(urls):
        raise ValueError(f"base_url: the same endpoint is listed twice in {value!r}")
    return urls


@dataclass
class Endpoint:
    """One server: how many requests it holds now, and its health. A client keeps these for its
    lifetime (health outlives one event loop: ``run_sync`` makes a loop per call); the connections
    belong to the per-loop :class:`EndpointPool`."""

    base_url: str
    in_flight: int = 0
    #: consecutive failures; each one doubles the rest (up to the pool's ``rest_max``)
    failures: int = 0
    rested_until: float = 0.0
    #: requests answered and failed over the pool's lifetime (reported, and read by tests)
    served: int = 0
    failed: int = 0

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"


class Slot:
    """A request's hold on one endpoint (``async with pool.slot() as s``); call :meth:`fail` when the
    endpoint misbehaved (a transient failure: refused, timed out, 5xx, 429, garbage), so that the next
    requests go elsewhere. An error escaping the block (cancellation, a bug) says nothing about the
    server and does not rest it. A plain class, not a generator context manager: this runs per request."""

    __slots__ = ("pool", "endpoint", "session", "ok")

    def __init__(self, pool: EndpointPool):
        self.pool, self.ok = pool, True

    @property
    def url(self) -> str:
        return self.endpoint.url

    def fail(self) -> None:
        self.ok = False

    async def __aenter__(self) -> Slot:
        self.endpoint = await self.pool.acquire()
        self.session = self.pool._sessions[self.endpoint.base_url]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pool.release(self.endpoint, self.ok)


@dataclass
class EndpointPool:
    """Spreads requests over ``base_urls`` with ``concurrency`` requests at most per endpoint.

    Choice: among healthy endpoints (not resting) with a free slot, the one holding the fewest requests
    (ties: the one listed first). When every endpoint rests, the one whose rest ends first is used: the
    client's own backoff already spaces the retries, and waiting here as well would only stall them.
    A healthy endpoint that is full makes the request wait for a slot rather than go to a resting one.
    """

    endpoints: Sequence[Endpoint]
    concurrency: int
    rest_base: float = 1.0
    rest_max: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, Session] = field(init=False, default_factory=dict)
    _waiters: deque[asyncio.Future[None]] = field(init=False, default_factory=deque)
    #: some endpoint may still be resting (the clock is read only then)
    _rested: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._rested = any(e.rested_until > 0 for e in self.endpoints)  # health outlives a loop's pool
        if self.concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {self.concurrency}")
        if not self.endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")

    async def open(self, timeout: float) -> None:
        """Open each endpoint's keep-alive connections on the running loop."""
        from raif_rewards.chat_http import Session

        for ep in self.endpoints:
            self._sessions[ep.base_url] = await Session.open(ep.base_url, self.concurrency, timeout)

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.aclose()

    def _pick(self) -> Endpoint | None:
        # one pass, no lists and no clock read unless some endpoint has failed: this runs per request
        best: Endpoint | None = None
        now = self.clock() if self._rested else 0.0
        resting = 0
        for e in self.endpoints:
            if e.rested_until > now:
                resting += 1
            elif e.in_flight < self.concurrency and (best is None or e.in_flight < best.in_flight):
                best = e
        if resting == 0:
            self._rested = False
        if best is not None or resting < len(self.endpoints):
            return best  # a healthy one with a free slot, or None: wait for a healthy one's slot
        free = [e for e in self.endpoints if e.in_flight < self.concurrency]
        return min(free, key=lambda e: e.rested_until) if free else None

    async def acquire(self) -> Endpoint:
        """An endpoint with a free slot (waits for one); pair with :meth:`release`."""
        while True:
            ep = self._pick()
            if ep is not None:
                ep.in_flight += 1
                return ep
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were handed a wake-up we will not use: pass it on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, ep: Endpoint, ok: bool) -> None:
        """Free ``ep``'s slot and record how the request went there."""
        ep.in_flight -= 1
        if ok:
            ep.served += 1
            ep.failures = 0
        else:
            ep.failed += 1
            ep.failures += 1
            ep.rested_until = self.clock() + min(self.rest_max, self.rest_base * 2 ** (ep.failures - 1))
            self._rested = True
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def slot(self) -> Slot:
        """``async with pool.slot() as s: await s.session.post_json(s.url, ...)``."""
        return Slot(self)

