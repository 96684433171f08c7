"""A small HTTP/1.1 keep-alive client on ``asyncio.Protocol``, for the sender's posts only.

Why not aiohttp: measured on the project's 2-core machine, an aiohttp request costs 0.15-0.2 ms
of CPU (request and response objects, header multidicts, cookie jar, tracing hooks...), which
caps one process near 5,000 posts/s with nothing left for anything else. The management API
needs far less: a request whose bytes are built in one f-string, and of the response only the
status (the body is read to keep the connection usable, and kept short for error messages).
This client costs ~0.04 ms per request.

What it does: connection pooling per (scheme, host, port) with LIFO reuse and idle expiry, TLS
through ``ssl`` (certificates verified, SNI), ``Content-Length``, chunked and read-until-close
response bodies, ``Connection: close``, a per-request timeout, one transparent retry when a
reused keep-alive connection turns out to have been closed by the server before answering.
What it does not do: proxies, redirects, compression, pipelining, request streaming.

Example::

    pool = ConnectionPools()
    status, body = await pool.request("https", "example.com", 443, b"GET / HTTP/1.1\\r\\n...")
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque

#: Largest response head and body read; a larger one is an error (no server of ours sends it).
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
#: RFC 9112 grammar the parser holds responses to (section 4 status-line, 5 field-line with
#: RFC 9110 token names, 6.3 Content-Length, 7.1 chunk-size). Lengths are bounded: a
#: 5,000-digit number is a malformed answer, not a ValueError from int().
_STATUS_LINE = re.compile(rb"HTTP/1\.(?P<version>[01]) (?P<status>[1-9][0-9]{2})(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DECIMAL = re.compile(rb"[0-9]{1,15}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
#: Idle connections kept per pool, and how long one may stay idle before it is not reused.
MAX_IDLE_PER_POOL = 512
IDLE_SECONDS = 20.0


class HttpError(Exception):
    """The request could not be completed: connection failed or closed, malformed answer."""


class _StaleConnection(HttpError):
    """A reused connection was closed before any answer: the request may be sent again."""


class _Connection(asyncio.Protocol):
    """One connection; one request at a time. The response is parsed as bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._got_bytes = False
        # Parse state of the current response.
        self._status = 0
        self._keep_alive = True
        self._length: int | None = None  # None: until close; -1: chunked
        self._head_done = False
        self._body = bytearray()
        self._chunk_left = 0
        self._chunk_state = "size"

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for: the connection's state is unknown, do not reuse it.
            self.close()
            return
        self._got_bytes = True
        self._buffer += data
        try:
            self._parse()
        except HttpError as exc:
            self._fail(exc)
            self.close()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._head_done and self._length is None:
            self._complete()  # body delimited by the end of the connection
        elif not self._got_bytes and self.reused:
            self._fail(_StaleConnection("keep-alive connection closed by the server"))
        else:
            self._fail(HttpError(f"connection closed before the response ended ({exc})"))

    # -- requests

    async def request(self, data: bytes, timeout: float) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise _StaleConnection("connection already closed")
        waiter = self.loop.create_future()
        self._waiter = waiter
        self._got_bytes = False
        self._reset_response()
        self.transport.write(data)
        timer = self.loop.call_later(timeout, self._on_timeout, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _on_timeout(self, waiter: asyncio.Future) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError("no complete response in time"))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive

    # -- parsing

    def _reset_response(self) -> None:
        self._buffer.clear()
        self._status = 0
        self._keep_alive = True
        self._length = None
        self._head_done = False
        self._body = bytearray()
        self._chunk_left = 0
        self._chunk_state = "size"

    def _parse(self) -> None:
        while not self._head_done:
            end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise HttpError("response head too large")
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            if self._parse_head(head):
                self._head_done = True
        if self._length is None:
            self._take_body(len(self._buffer))
        elif self._length >= 0:
            self._take_body(min(len(self._buffer), self._length - len(self._body)))
            if len(self._body) >= self._length:
                self._complete()
        else:
            self._parse_chunks()

    def _parse_head(self, head: bytes) -> bool:
        """Read status and framing; False for an interim (1xx) response, which is skipped.

        Strict, as RFC 9112 asks of a client that must not be confused about where a response
        ends (a wrong guess makes a stray body the next request's answer on a reused
        connection): a status of exactly three digits, ``name: value`` lines with no obsolete
        folding, at most one ``Content-Length`` value (repeats of the same value are the same
        value), ``Transfer-Encoding`` only as exactly ``chunked``, and never both. Anything
        else raises :class:`HttpError`, which closes the connection.
        """
        lines = head.split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise HttpError(f"malformed status line {lines[0][:80]!r}")
        status = int(match["status"])
        if 100 <= status < 200:
            return False
        self._status = status
        self._keep_alive = match["version"] == b"1"
        lengths: set[bytes] = set()
        encodings: list[bytes] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HttpError(f"malformed header line {line[:80]!r}")  # folding included
            name = name.lower()
            value = value.strip(b" \t")
            if name == b"content-length":
                lengths.update(part.strip(b" \t") for part in value.split(b","))
            elif name == b"transfer-encoding":
                encodings.extend(part.strip(b" \t").lower() for part in value.split(b","))
            elif name == b"connection":
                tokens = {part.strip(b" \t").lower() for part in value.split(b",")}
                if b"close" in tokens:
                    self._keep_alive = False
                elif b"keep-alive" in tokens:
                    self._keep_alive = True
        length: int | None = None
        if encodings:
            if lengths:
                raise HttpError("both Transfer-Encoding and Content-Length: ambiguous framing")
            if match["version"] != b"1":  # RFC 9112 6.1: faulty framing in HTTP/1.0
                raise HttpError("Transfer-Encoding in an HTTP/1.0 response")
            if encodings != [b"chunked"]:
                raise HttpError(f"unsupported Transfer-Encoding {b', '.join(encodings)[:80]!r}")
            length = -1
        elif lengths:
            if len(lengths) > 1:
                raise HttpError("conflicting Content-Length values")
            (text,) = lengths
            if not _DECIMAL.fullmatch(text):
                raise HttpError("malformed Content-Length")
            length = int(text)
        if status in (204, 304):
            length = 0
        if length is None:
            self._keep_alive = False  # the body ends when the connection does
        elif length > MAX_BODY_BYTES:
            raise HttpError("response body too large")
        self._length = length
        return True

    def _take_body(self, count: int) -> None:
        if count > 0:
            if len(self._body) + count > MAX_BODY_BYTES:
                raise HttpError("response body too large")
            self._body += self._buffer[:count]
            del self._buffer[:count]

    def _parse_chunks(self) -> None:
        buffer = self._buffer
        while True:
            state = self._chunk_state
            if state == "size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 1024:
                        raise HttpError("malformed chunk size")
                    return
                size_text = bytes(buffer[:end]).split(b";", 1)[0].rstrip(b" \t")
                if not _CHUNK_SIZE.fullmatch(size_text):  # hex digits only: no -5, 0x2, 1_0
                    raise HttpError("malformed chunk size")
                size = int(size_text, 16)
                del buffer[: end + 2]
                self._chunk_left = size
                self._chunk_state = "data" if size else "trailers"
            elif state == "data":
                take = min(self._chunk_left, len(buffer))
                self._take_body(take)
                self._chunk_left -= take
                if self._chunk_left:
                    return
                self._chunk_state = "crlf"
            elif state == "crlf":
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise HttpError("malformed chunk")
                del buffer[:2]
                self._chunk_state = "size"
            else:  # trailers: none, or header lines, then an empty line
                if buffer.startswith(b"\r\n"):
                    del buffer[:2]
                    self._complete()
                    return
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD_BYTES:
                        raise HttpError("chunked trailers too large")
                    return
                del buffer[: end + 4]
                self._complete()
                return

    def _complete(self) -> None:
        if self._buffer:
            self._keep_alive = False  # bytes after the response: do not trust this connection
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, bytes(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class ConnectionPools:
    """Keep-alive connections per (scheme, host, port), used by one event loop.

    Example: ``status, body = await pools.request("http", "127.0.0.1", 8001, raw_request)``.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def _connect(self, scheme: str, host: str, port: int, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop),
                    host,
                    port,
                    ssl=self._ssl() if scheme == "https" else None,
                ),
                timeout,
            )
        except (TimeoutError, asyncio.TimeoutError):
            raise TimeoutError(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"cannot connect to {host}:{port}: {exc}") from exc
        return connection

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_allowed = time.monotonic() - IDLE_SECONDS
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= oldest_allowed:
                connection.reused = True
                return connection
            connection.close()
        return None

    def _release(self, key: tuple[str, str, int], connection: _Connection) -> None:
        if not connection.reusable:
            connection.close()
            return
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        if len(idle) >= MAX_IDLE_PER_POOL:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def request(
        self, scheme: str, host: str, port: int, data: bytes, timeout: float
    ) -> tuple[int, bytes]:
        """Send one complete request (``data``) and return (status, body).

        Raises ``TimeoutError`` and :class:`HttpError`.
        """
        key = (scheme, host, port)
        deadline = time.monotonic() + timeout
        connection = self._take_idle(key)
        if connection is None:
            connection = await self._connect(scheme, host, port, timeout)
        try:
            try:
                answer = await connection.request(data, max(0.001, deadline - time.monotonic()))
            except _StaleConnection:
                if not connection.reused:
                    raise
                # The server closed an idle connection as we reused it: nothing was processed.
                connection = await self._connect(scheme, host, port, timeout)
                answer = await connection.request(data, max(0.001, deadline - time.monotonic()))
        except BaseException:
            connection.close()
            raise
        self._release(key, connection)
        return answer

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
