"""Open sockets by connection id: what ``@connections`` posts to, reads and closes."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from aiohttp import web

logger = logging.getLogger("ws_routes.local_gateway")


class ClientBufferFull(Exception):
    """The client reads too slowly: AWS answers ``LimitExceededException`` (429)."""


class ConnectionGone(Exception):
    """The socket closed before the data could be written: AWS answers ``GoneException``."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Connection:
    """One open client socket, as the gateway knows it.

    ``send()`` serialises writes (route responses and ``@connections`` posts share the socket),
    and ``close()`` may be called from any task: the socket's own handler notices and finishes.
    """

    def __init__(
        self,
        connection_id: str,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        *,
        source_ip: str,
        user_agent: str,
        max_buffer_bytes: int,
        send_timeout: float,
    ) -> None:
        self.id = connection_id
        self.ws = ws
        self._transport = transport
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.connected_at = _utcnow()
        self.last_active_at = self.connected_at
        loop = asyncio.get_running_loop()
        self.opened_monotonic = loop.time()
        self.last_active_monotonic = self.opened_monotonic
        self.close_code: int | None = None
        self.close_reason = ""
        self._max_buffer_bytes = max_buffer_bytes
        self._send_timeout = send_timeout
        self._send_lock = asyncio.Lock()
        self._close_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} from {self.source_ip}>"

    @property
    def is_open(self) -> bool:
        return self._close_task is None and not self.ws.closed

    def touch(self) -> None:
        """Record activity: resets the idle timer, updates ``lastActiveAt``."""
        self.last_active_at = _utcnow()
        self.last_active_monotonic = asyncio.get_running_loop().time()

    def _buffered_bytes(self) -> int:
        transport = self._transport
        if transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size()  # type: ignore[attr-defined]

    async def send(self, data: str | bytes) -> None:
        """Write one message: ``str`` as a text frame, ``bytes`` as a binary frame."""
        if not self.is_open:
            raise ConnectionGone(self.id)
        if self._buffered_bytes() > self._max_buffer_bytes:
            raise ClientBufferFull(self.id)
        try:
            async with self._send_lock:
                if not self.is_open:
                    raise ConnectionGone(self.id)
                if isinstance(data, str):
                    await asyncio.wait_for(self.ws.send_str(data), self._send_timeout)
                else:
                    await asyncio.wait_for(self.ws.send_bytes(data), self._send_timeout)
        except asyncio.TimeoutError:
            raise ClientBufferFull(self.id) from None
        except (ConnectionError, RuntimeError) as error:  # closing transport, closed socket
            raise ConnectionGone(self.id) from error
        self.touch()

    def close(self, code: int, reason: str) -> None:
        """Start closing with ``code`` (idempotent; returns at once)."""
        if self._close_task is not None or self.ws.closed:
            return
        self.close_code, self.close_reason = code, reason
        self._close_task = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code=code, message=reason.encode("utf-8"))
        except Exception:  # the peer may be gone already; nothing left to do
            logger.debug("close of %s failed", self.id, exc_info=True)

    async def wait_closed(self) -> None:
        """Wait for a ``close()`` started elsewhere to finish its handshake."""
        if self._close_task is not None:
            await asyncio.shield(self._close_task)


class ConnectionRegistry:
    """Connections whose ``$connect`` succeeded and whose socket is open, by id."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def __contains__(self, connection_id: object) -> bool:
        return connection_id in self._connections

    def ids(self) -> list[str]:
        return list(self._connections)

    def all(self) -> list[Connection]:
        return list(self._connections.values())

    def get(self, connection_id: str) -> Connection | None:
        connection = self._connections.get(connection_id)
        return connection if connection is not None and connection.is_open else None

    def add(self, connection: Connection) -> None:
        if connection.id in self._connections:
            raise ValueError(f"duplicate connection id {connection.id!r}")
        self._connections[connection.id] = connection

    def remove(self, connection: Connection) -> None:
        if self._connections.get(connection.id) is connection:
            del self._connections[connection.id]
