"""Reading an HTTP body with a ceiling, whatever its framing (Content-Length or chunked)."""

from __future__ import annotations

from aiohttp import StreamReader


async def read_at_most(stream: StreamReader, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it proves longer than ``limit`` bytes.

    ``StreamReader.read(n)`` returns what has arrived, not ``n`` bytes: loop until EOF.
    """
    body = bytearray()
    while True:
        chunk = await stream.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None
