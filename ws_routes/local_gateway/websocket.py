"""Client sockets: handshake → ``$connect``, frames → message routes, close → ``$disconnect``."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .config import AWS_MAX_URL_LENGTH, GatewayConfig
from .connections import ClientBufferFull, Connection, ConnectionGone, ConnectionRegistry
from .frames import FrameSizeGuard
from .ids import new_request_id
from .integration import (
    CONNECT,
    DISCONNECT,
    MESSAGE,
    EventContext,
    Integration,
    IntegrationError,
    error_frame,
)
from .route_selection import CONNECT_ROUTE, DISCONNECT_ROUTE
from .stages import StageResolver, StageRuntime

logger = logging.getLogger("ws_routes.local_gateway")

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]

#: Close codes and reasons API Gateway uses.
GOING_AWAY = (int(WSCloseCode.GOING_AWAY), "Going away")  # idle timeout, 2 h life, shutdown
MESSAGE_TOO_BIG = (int(WSCloseCode.MESSAGE_TOO_BIG), "Message too big")
#: AWS developer guide, "Working with binary media types for WebSocket APIs": API Gateway
#: WebSocket APIs don't support binary frames in incoming payloads; a binary frame closes the
#: connection with code 1003. (The reason text AWS sends is not documented.)
UNSUPPORTED_DATA = (int(WSCloseCode.UNSUPPORTED_DATA), "Binary frames are not supported")


def echoed_close(code: Any) -> int:
    """The code a close reply carries: the client's own (RFC 6455 section 5.5.1: an endpoint
    typically echoes the status code it received), or 1000 when the client's cannot be sent
    (none, or a reserved 1004-1006 / 1015)."""
    if isinstance(code, int) and (1000 <= code <= 1003 or 1007 <= code <= 1014):
        return code
    if isinstance(code, int) and 3000 <= code <= 4999:
        return code
    return int(WSCloseCode.OK)


def gateway_frame(message: str, connection_id: str, id_name: str, id_value: str) -> str:
    """One of AWS's own frames: ``{"message", "connectionId", "requestId"|"messageId"}``."""
    return json.dumps({"message": message, "connectionId": connection_id, id_name: id_value})


def _reply_frame(body: bytes) -> str | bytes:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


class WebSocketEndpoint:
    """Serves client sockets; every event becomes one POST through ``integration``."""

    def __init__(
        self,
        config: GatewayConfig,
        registry: ConnectionRegistry,
        integration: Integration,
        spawn: Spawn,
        stages: StageResolver,
    ) -> None:
        self.config = config
        self.registry = registry
        self.integration = integration
        self.spawn = spawn
        self.stages = stages
        self._pending_ids: set[str] = set()

    def _new_connection_id(self) -> str:
        for _ in range(100):
            candidate = self.config.connection_id_factory()
            if candidate not in self.registry and candidate not in self._pending_ids:
                return candidate
        raise RuntimeError("connection_id_factory keeps returning ids in use")

    async def handle(self, request: web.Request, runtime: StageRuntime) -> web.StreamResponse:
        """One client socket on ``runtime``'s stage, from the handshake to its DISCONNECT."""
        offered = tuple(
            name.strip()
            for name in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if name.strip()
        )
        if not web.WebSocketResponse(protocols=offered).can_prepare(request).ok:
            return web.Response(
                status=426,
                text="This is a WebSocket endpoint (the local API Gateway): connect with ws://\n",
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        if len(request.raw_path) > AWS_MAX_URL_LENGTH:
            return web.Response(status=414, text="URL too long\n")
        opened = await self._open(request, runtime)
        if not isinstance(opened, Connection):
            return opened  # the refused handshake
        connection = opened
        try:
            self._limit_frames(connection, request.transport)
            await self._serve(connection, runtime.stage)
        finally:
            self.registry.remove(connection)
            await connection.wait_closed()
            if not connection.ws.closed:  # cancelled (server stopping) or the peer vanished
                connection.close(*GOING_AWAY)
                await connection.wait_closed()
            self.spawn(self._disconnect(runtime, connection.id, connection.source_ip, connection))
        return connection.ws

    async def _open(self, request: web.Request, runtime: StageRuntime) -> Connection | web.Response:
        """CONNECT, then the 101 and the registry entry; or the response refusing the socket."""
        connection_id = self._new_connection_id()
        source_ip = request.remote or ""
        self._pending_ids.add(connection_id)
        connected_at = datetime.now(timezone.utc)  # requestContext.connectedAt of every event
        try:
            accepted, refusal = await self._connect(
                request, runtime, connection_id, source_ip, int(connected_at.timestamp() * 1000)
            )
            if refusal is not None:
                return refusal
            ws = web.WebSocketResponse(
                protocols=accepted,
                autoping=True,
                autoclose=False,  # the close reply echoes the client's code (_serve)
                compress=False,  # API Gateway negotiates no permessage-deflate
                max_msg_size=self.config.max_message_bytes + 1,  # aiohttp refuses size >= limit
                timeout=self.config.close_timeout,
            )
            try:
                await ws.prepare(request)
            except Exception:  # the client left between CONNECT and the 101: Django must know
                self.spawn(self._disconnect(runtime, connection_id, source_ip, None))
                raise
            connection = Connection(
                connection_id,
                ws,
                request.transport,
                source_ip=source_ip,
                user_agent=request.headers.get("User-Agent", ""),
                max_buffer_bytes=self.config.max_client_buffer_bytes,
                send_timeout=self.config.close_timeout,
            )
            connection.connected_at = connected_at
            self.registry.add(connection)  # from now on @connections can reach it
            return connection
        finally:
            self._pending_ids.discard(connection_id)

    def _limit_frames(self, connection: Connection, transport: Any) -> None:
        limit = self.config.max_frame_bytes

        def oversized(size: int) -> None:
            logger.info(
                "closing %s: a %d-byte frame is over the %d-byte frame limit",
                connection.id,
                size,
                limit,
            )
            connection.close(*MESSAGE_TOO_BIG)

        FrameSizeGuard.install(transport, limit, oversized)

    async def _connect(
        self,
        request: web.Request,
        runtime: StageRuntime,
        connection_id: str,
        source_ip: str,
        connected_at_ms: int,
    ) -> tuple[tuple[str, ...], web.Response | None]:
        """POST CONNECT; returns (subprotocols to accept, refusal response or None)."""
        if not runtime.has_route(CONNECT_ROUTE):
            return (), None  # no $connect route: AWS opens the socket without calling anything
        context = self.integration.context(
            CONNECT,
            CONNECT_ROUTE,
            connection_id,
            source_ip,
            user_agent=request.headers.get("User-Agent"),
            connected_at_ms=connected_at_ms,
        )
        started = time.perf_counter()
        try:
            response = await runtime.call(
                self.integration,
                context,
                query_string=request.query_string,
                handshake_headers=request.headers,
            )
        except IntegrationError as error:
            _log(context, error.status, started)
            return (), web.json_response(
                {"message": error.message, "connectionId": connection_id},
                status=error.status,
            )
        _log(context, response.status, started)
        if not response.ok:
            # API Gateway refuses the handshake with the integration's status; the body stays
            # on the server side (it never reaches the client).
            return (), web.Response(status=response.status)
        protocol = response.headers.get("Sec-WebSocket-Protocol")
        return ((protocol,) if protocol else ()), None

    async def _serve(self, connection: Connection, stage: str) -> None:
        watchdog = asyncio.create_task(self._watch(connection))
        inflight = asyncio.Semaphore(self.config.max_inflight_per_connection)
        try:
            while True:
                message = await connection.ws.receive()
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if message.type == WSMsgType.CLOSE:
                        if not connection.close_reason:
                            reason = str(message.extra or "").encode("utf-8")[:123]
                            connection.close_reason = reason.decode("utf-8", "ignore")
                        connection.close(echoed_close(message.data), connection.close_reason)
                    break  # CLOSE (answered above) / CLOSING / CLOSED / ERROR
                connection.touch()
                if message.type == WSMsgType.BINARY:
                    logger.info("closing %s: a binary frame (AWS refuses them)", connection.id)
                    connection.close(*UNSUPPORTED_DATA)
                    continue
                await inflight.acquire()
                task = self.spawn(self._message(connection, stage, message.data))
                task.add_done_callback(lambda _task: inflight.release())
        finally:
            watchdog.cancel()

    async def _message(self, connection: Connection, stage: str, data: str) -> None:
        runtime = self.stages.resolve(stage)
        route = runtime.select_route(data) if runtime is not None else None
        reply: str | bytes | None
        if runtime is None or route is None:
            # No route and no $default route: AWS answers with its own Forbidden frame.
            reply = gateway_frame("Forbidden", connection.id, "requestId", new_request_id())
        elif runtime.body_refused(route, data):
            # The route's request model refused the body: the integration is not called.
            reply = gateway_frame("Bad request body", connection.id, "messageId", new_request_id())
        else:
            reply = await self._integrate(connection, runtime, route, data)
        if reply is not None:
            try:
                await connection.send(reply)
            except (ConnectionGone, ClientBufferFull) as error:
                logger.info("reply to %s dropped: %s", connection.id, type(error).__name__)

    async def _integrate(
        self, connection: Connection, runtime: StageRuntime, route: str, data: str
    ) -> str | bytes | None:
        context = self.integration.context(
            MESSAGE,
            route,
            connection.id,
            connection.source_ip,
            user_agent=connection.user_agent,
            connected_at_ms=int(connection.connected_at.timestamp() * 1000),
        )
        started = time.perf_counter()
        try:
            response = await runtime.call(
                self.integration,
                context,
                body=data.encode("utf-8"),
                content_type="application/json",
            )
        except IntegrationError as error:
            _log(context, error.status, started)
            return error_frame(error, connection.id, context.request_id)
        _log(context, response.status, started)
        # A proxy integration's body (whatever the status) reaches the client only through a
        # route response; a one-way route drops it, as on AWS.
        if not response.body or not runtime.replies(route):
            return None
        return _reply_frame(response.body)

    async def _watch(self, connection: Connection) -> None:
        """Close with 1001 after ``idle_timeout`` without traffic or ``max_lifetime`` in all."""
        loop = asyncio.get_running_loop()
        while connection.is_open:
            idle_at = connection.last_active_monotonic + self.config.idle_timeout
            end_at = connection.opened_monotonic + self.config.max_lifetime
            now = loop.time()
            if now >= idle_at or now >= end_at:
                why = "idle timeout" if now >= idle_at else "connection lifetime"
                logger.info("closing %s: %s", connection.id, why)
                connection.close(*GOING_AWAY)
                return
            await asyncio.sleep(min(idle_at, end_at) - now)

    async def _disconnect(
        self,
        runtime: StageRuntime,
        connection_id: str,
        source_ip: str,
        connection: Connection | None,
    ) -> None:
        """POST DISCONNECT, best effort (AWS: "$disconnect is a best-effort event")."""
        current = self.stages.resolve(runtime.stage) or runtime
        if not current.has_route(DISCONNECT_ROUTE):
            return
        close_code = connection.ws.close_code if connection is not None else None
        context = self.integration.context(
            DISCONNECT,
            DISCONNECT_ROUTE,
            connection_id,
            source_ip,
            user_agent=connection.user_agent if connection is not None else None,
            connected_at_ms=(
                int(connection.connected_at.timestamp() * 1000) if connection is not None else None
            ),
            disconnect=(
                close_code or 1006,
                (connection.close_reason if connection is not None else "") or "",
            ),
        )
        started = time.perf_counter()
        try:
            response = await current.call(self.integration, context)
        except IntegrationError as error:
            _log(context, error.status, started, close_code)
        else:
            _log(context, response.status, started, close_code)


def _log(context: EventContext, status: int, started: float, close_code: int | None = None) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    logger.info(
        "%-10s %-12s %s -> %s (%.0f ms)%s",
        context.event,
        context.route,
        context.connection_id,
        status,
        elapsed,
        "" if close_code is None else f" close code {close_code}",
    )
