"""The HTTP side of :mod:`raif_rewards.llm`: aiohttp keep-alive connections per event loop and a JSON
POST returning the decoded body (about a tenth of the OpenAI SDK's CPU per request; aiohttp is imported
only when a client first needs it).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from typing import Any

#: the largest response body read (a completion of n=16 samples of 32k tokens is about 2 MB)
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


class HTTPStatusError(Exception):
    """The server answered with a status outside 2xx (``status_code``, raw ``body``, and the
    ``Retry-After`` header's value, when there is one)."""

    def __init__(self, status_code: int, body: bytes, retry_after: str | None = None):
        self.status_code, self.body, self.retry_after = status_code, body, retry_after
        super().__init__(f"Error code: {status_code} - {body[:300].decode('utf-8', 'replace')}")


class BodyTooLarge(Exception):
    """The server's answer is longer than the client accepts (not read further, never cached)."""


class Session:
    """aiohttp keep-alive connections to one endpoint, for one event loop: ``post_json`` and ``aclose``.

    The connections are closed by an async generator on purpose: ``asyncio.run`` (and so
    ``run_sync``) finalises live async generators before closing its loop, which closes them there
    even when the caller never awaits :meth:`aclose`; left to garbage collection they would warn
    ("Unclosed client session", "unclosed transport") after every synchronous call.
    """

    def __init__(self, connections: int, timeout: float, proxy: str | None):
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
            # not trust_env: it re-reads ~/.netrc and the proxy variables in a thread on every
            # request (two thread hand-offs per request); the proxy is looked up once, in env_proxy
        )
        self._proxy = proxy
        self._lifetime = self._closed_at_loop_end()

    @classmethod
    async def open(cls, base_url: str, connections: int, timeout: float) -> Session:
        """Connections to ``base_url``'s server, through the proxy the environment names for it."""
        session = cls(connections, timeout, env_proxy(base_url))
        await anext(session._lifetime)
        return session

    async def _closed_at_loop_end(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self._session.close()

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, timeout: float | None = None,
        query: Mapping[str, str] | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> Any:
        """POST ``payload`` (JSON bytes) and return the decoded JSON answer. Raises
        :class:`HTTPStatusError` for non-2xx answers, :class:`BodyTooLarge` past ``max_body_bytes``,
        ``json.JSONDecodeError`` for a body that is not JSON, and ``ConnectionError``, aiohttp's
        ``ClientError`` or ``TimeoutError`` for transport failures (the timeout bounds the whole
        exchange, so a body dripped a byte at a time ends there too)."""
        import aiohttp

        kwargs: dict[str, Any] = {"data": payload, "headers": headers, "proxy": self._proxy}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        if query:
            kwargs["params"] = query
        async with self._session.post(url, **kwargs) as resp:
            status = resp.status
            retry_after = resp.headers.get("Retry-After")
            if resp.content_length is not None and resp.content_length > max_body_bytes:
                raise BodyTooLarge(f"the server announced a {resp.content_length:,}-byte answer; at most "
                                   f"{max_body_bytes:,} bytes are accepted")
            parts, size = [], 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > max_body_bytes:
                    raise BodyTooLarge(f"the server's answer passed {max_body_bytes:,} bytes (not read further)")
                parts.append(chunk)
            body = b"".join(parts)
        if not 200 <= status < 300:
            raise HTTPStatusError(status, body, retry_after)
        return json.loads(body)

    async def aclose(self) -> None:
        await self._lifetime.aclose()


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
