"""API Gateway's 32 KB WebSocket *frame* limit, which aiohttp alone cannot enforce.

aiohttp's ``max_msg_size`` bounds a whole (reassembled) message, which gives the 128 KB message
quota. API Gateway also refuses any single frame over 32 KB (a client must split a bigger message
into continuation frames), closing the socket with 1009. Browsers never fragment, so a 40 KB
``socket.send()`` passes a naive emulator and fails in production. :class:`FrameSizeGuard` sits
between the TCP transport and aiohttp, reads each frame header as the bytes arrive, and reports an
oversized data frame before aiohttp sees any of it; the frame's bytes are dropped, every other
frame (the client's close frame in particular) is passed through untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ws_routes.local_gateway")

DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary


def _header_length(first_two: bytes | bytearray) -> int:
    """Bytes in a frame header given its first two bytes (RFC 6455 §5.2)."""
    length_flag = first_two[1] & 0x7F
    masked = first_two[1] & 0x80
    extended = 2 if length_flag == 126 else 8 if length_flag == 127 else 0
    return 2 + extended + (4 if masked else 0)


def _payload_length(header: bytes | bytearray) -> int:
    length_flag = header[1] & 0x7F
    if length_flag == 126:
        return int.from_bytes(header[2:4], "big")
    if length_flag == 127:
        return int.from_bytes(header[2:10], "big")
    return length_flag


class FrameSizeGuard(asyncio.Protocol):
    """Wraps aiohttp's protocol on an upgraded socket; calls ``on_oversized(size)`` once.

    Install with :meth:`install` right after ``WebSocketResponse.prepare()``.
    """

    def __init__(
        self, inner: asyncio.Protocol, max_frame_bytes: int, on_oversized: Callable[[int], Any]
    ) -> None:
        self.inner = inner
        self.max_frame_bytes = max_frame_bytes
        self.on_oversized = on_oversized
        self.violated = False
        self._header = bytearray()
        self._payload_left = 0
        self._dropping = False

    @classmethod
    def install(
        cls, transport: Any, max_frame_bytes: int, on_oversized: Callable[[int], Any]
    ) -> FrameSizeGuard | None:
        """Put a guard in front of ``transport``'s protocol (``None`` if it cannot be swapped)."""
        if transport is None or not hasattr(transport, "set_protocol"):
            logger.warning("frame size limit not enforced: transport has no set_protocol()")
            return None
        guard = cls(transport.get_protocol(), max_frame_bytes, on_oversized)
        transport.set_protocol(guard)
        return guard

    def data_received(self, data: bytes) -> None:
        forward = bytearray()
        view = memoryview(data)
        position, end = 0, len(data)
        while position < end:
            if self._payload_left:
                take = min(self._payload_left, end - position)
                if not self._dropping:
                    forward += view[position : position + take]
                self._payload_left -= take
                position += take
                continue
            # Collect a complete header before deciding anything about the frame.
            needed = 2 if len(self._header) < 2 else _header_length(self._header)
            take = min(needed - len(self._header), end - position)
            self._header += view[position : position + take]
            position += take
            if len(self._header) < 2 or len(self._header) < _header_length(self._header):
                continue
            size = _payload_length(self._header)
            opcode = self._header[0] & 0x0F
            self._dropping = opcode in DATA_OPCODES and size > self.max_frame_bytes
            if self._dropping:
                if not self.violated:
                    self.violated = True
                    self.on_oversized(size)
            else:
                forward += self._header
            self._header.clear()
            self._payload_left = size
        if forward:
            self.inner.data_received(bytes(forward))

    # Everything else goes straight to aiohttp's protocol.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
