"""The HTTP side of :mod:`raif_rewards.llm`: one pooled keep-alive aiohttp session per event loop and a
JSON POST returning the decoded body. aiohttp is imported only when a client first sends a request.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any


class HTTPStatusError(Exception):
    """The server answered with a status outside 2xx (``status_code``, raw ``body``)."""

    def __init__(self, status_code: int, body: bytes):
        self.status_code, self.body = status_code, body
        super().__init__(f"Error code: {status_code} - {body[:300].decode('utf-8', 'replace')}")


class Session:
    """Keep-alive connections for one event loop (aiohttp sessions cannot move between loops).

    The aiohttp session lives inside an async generator on purpose: ``asyncio.run`` (and so
    ``run_sync``) finalises live async generators before closing its loop, which closes the session
    there even when the caller never awaits :meth:`aclose`; a session left open until garbage
    collection would log "Unclosed client session" after every synchronous call.
    """

    def __init__(self, lifetime: AsyncIterator[Any], session: Any, proxy: str | None):
        self._lifetime, self._session, self._proxy = lifetime, session, proxy

    @classmethod
    async def open(cls, base_url: str, connections: int, timeout: float) -> Session:
        """Connections to ``base_url``'s server, through the proxy the environment names for it."""
        lifetime = _lifetime(connections, timeout)
        return cls(lifetime, await anext(lifetime), env_proxy(base_url))

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, timeout: float | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``payload`` (JSON bytes) and return the decoded JSON answer. Raises
        :class:`HTTPStatusError` for non-2xx answers, ``json.JSONDecodeError`` for a body that is not
        JSON, and aiohttp's ``ClientError`` or ``TimeoutError`` for transport failures."""
        import aiohttp

        kwargs: dict[str, Any] = {"data": payload, "headers": headers, "proxy": self._proxy}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        if query:
            kwargs["params"] = query
        async with self._session.post(url, **kwargs) as resp:
            body = await resp.read()
            status = resp.status
        if not 200 <= status < 300:
            raise HTTPStatusError(status, body)
        return json.loads(body)

    async def aclose(self) -> None:
        await self._lifetime.aclose()


async def _lifetime(connections: int, timeout: float) -> AsyncIterator[Any]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
        # not trust_env: it re-reads ~/.netrc and the proxy variables in a thread on every request
        # (two thread hand-offs per request); the proxy is looked up once, in env_proxy
    )
    try:
        yield session
    finally:
        await session.close()


def env_proxy(url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY / ALL_PROXY / NO_PROXY name for ``url`` (as the OpenAI SDK honoured them)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed URL: aiohttp reports it on the request, as an EndpointError
        return None
    if not host or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def is_transport_error(exc: BaseException) -> bool:
    """A failure of the connection rather than of the request: refused, reset, closed early,
    truncated body, timeout. A malformed or non-HTTP URL is the caller's mistake, not transient."""
    import aiohttp

    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return False
    # asyncio.TimeoutError is its own class before Python 3.11
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | TimeoutError | ConnectionError)
