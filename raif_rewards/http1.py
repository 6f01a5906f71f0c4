"""A minimal keep-alive HTTP/1.1 client for plain ``http://`` endpoints (a local vLLM or SGLang): one
POST at a time per connection, on asyncio protocols, at a quarter of aiohttp's CPU per request.

It speaks just what a chat-completions call needs: Content-Length request bodies; answers framed by
Content-Length, chunked encoding or the end of the connection; interim 1xx answers skipped; gzip or
deflate bodies decoded. TLS and proxies are aiohttp's job (see :mod:`raif_rewards.chat_http`).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import zlib
from collections.abc import Mapping
from typing import Any

_MAX_HEAD = 64 * 1024


class ServerDisconnected(ConnectionError):
    """The connection ended before the whole answer arrived (a transient failure)."""


class ProtocolError(ConnectionError):
    """The server's bytes are not an HTTP/1.1 answer (treated as transient, as a broken connection)."""


class _Connection(asyncio.Protocol):
    """One TCP connection; :meth:`exchange` sends a request and resolves with its answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: list[_Connection]):
        self.loop, self.idle = loop, idle
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.received = False  # any byte of the current answer
        self.waiter: asyncio.Future | None = None
        self.head: tuple[int, dict[str, str], bool] | None = None  # status, headers, keep-alive

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for: not a connection to reuse
            self.close()
            return
        self.received = True
        self.buffer += data
        try:
            self._parse(eof=False)
        except ProtocolError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self in self.idle:  # the server closed an idle keep-alive connection
            self.idle.remove(self)
        if self.waiter is not None and not self.waiter.done():
            try:
                self._parse(eof=True)
            except ProtocolError as error:
                self._fail(error)
            if not self.waiter.done():
                self._fail(ServerDisconnected("the server closed the connection before the whole answer arrived"))

    # -- one exchange
    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self.transport is not None and self.waiter is None
        self.waiter = self.loop.create_future()
        self.received, self.head = False, None
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def _parse(self, eof: bool) -> None:
        while self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    raise ProtocolError("answer head over 64 KiB")
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            del self.buffer[: end + 4]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200:  # interim answers (100 Continue...) precede the real one
                continue
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ProtocolError(f"bad header line {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            keep = connection != "close" if parts[0] == "HTTP/1.1" else connection == "keep-alive"
            self.head = (status, headers, keep)
        status, headers, keep = self.head
        if status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = _dechunk(self.buffer)
            if body is None:
                return
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad Content-Length {headers['content-length']!r}") from None
            if len(self.buffer) < length:
                return
            body, keep = bytes(self.buffer[:length]), keep and len(self.buffer) == length
        elif not eof:  # framed by the end of the connection
            return
        else:
            body, keep = bytes(self.buffer), False
        self.buffer.clear()
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):
            try:
                body = zlib.decompress(body, 47)  # 32 + 15: zlib or gzip header, detected
            except zlib.error as exc:
                raise ProtocolError(f"bad {encoding} body: {exc}") from None
        elif encoding != "identity":
            raise ProtocolError(f"unsupported Content-Encoding {encoding!r}")
        assert self.waiter is not None
        self.waiter.set_result((status, headers, body))
        if not keep:
            self.close()


def _dechunk(buffer: bytearray) -> bytes | None:
    """The body of a complete chunked message in ``buffer``, or None while it is incomplete."""
    parts, pos = [], 0
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        pos = eol + 2
        if size == 0:
            end = buffer.find(b"\r\n\r\n", pos - 2)  # the empty line after optional trailers
            return b"".join(parts) if end >= 0 else None
        if len(buffer) < pos + size + 2:
            return None
        parts.append(bytes(buffer[pos : pos + size]))
        pos += size + 2


class PlainSession:
    """Keep-alive connections to one ``http://host:port``, for one event loop.

    The caller bounds concurrency (the client's semaphore); a connection is reused once its answer
    has been read whole. A reused connection that fails before any byte of the answer arrives is the
    race with a server closing an idle connection, and the request is sent once more on a fresh one.
    """

    def __init__(self, base_url: str, timeout: float):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"PlainSession needs an http:// URL, not {base_url!r}")
        self.host, self.port, self.timeout = parts.hostname, parts.port or 80, timeout
        self._host_header = parts.netloc.rpartition("@")[2].encode("latin-1")
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, timeout: float | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``payload`` (JSON bytes) to ``url`` and return the decoded JSON answer (the contract of
        :meth:`raif_rewards.chat_http.Session.post_json`)."""
        from raif_rewards.chat_http import HTTPStatusError

        parts = urllib.parse.urlsplit(url)
        target = parts.path or "/"
        if parts.query or query:
            target += "?" + "&".join(q for q in (parts.query, urllib.parse.urlencode(query or {})) if q)
        lines = [f"POST {target} HTTP/1.1".encode("latin-1"), b"Host: " + self._host_header,
                 b"Content-Length: %d" % len(payload)]
        for name, value in headers.items():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}".encode("latin-1"))
        request = b"\r\n".join(lines) + b"\r\n\r\n" + payload
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        while True:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect(loop, deadline)
            timer = loop.call_at(deadline, _expire, conn, limit)
            try:
                status, _, body = await conn.exchange(request)
            except ConnectionError:
                if reused and not conn.received:
                    continue
                raise
            except BaseException:  # cancelled or timed out mid-answer: the connection's state is unknown
                conn.close()
                raise
            finally:
                timer.cancel()
                if conn.closed:
                    self._all.discard(conn)
            break
        if not conn.closed:
            self._idle.append(conn)
        if not 200 <= status < 300:
            raise HTTPStatusError(status, body)
        return json.loads(body)

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        connecting = loop.create_connection(lambda: _Connection(loop, self._idle), self.host, self.port)
        _, conn = await asyncio.wait_for(connecting, max(0.0, deadline - loop.time()))
        self._all.add(conn)
        return conn

    async def aclose(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # lets the transports finish closing on this loop


def _expire(conn: _Connection, limit: float) -> None:
    conn._fail(asyncio.TimeoutError(f"no whole answer within {limit:g} s"))
