"""``POST / GET / DELETE /@connections/{id}``: API Gateway's management API, as boto3 expects it.

Errors carry ``x-amzn-ErrorType`` so botocore raises the modelled exceptions
(``client.exceptions.GoneException`` and friends); the JSON uses the wire names of the
``apigatewaymanagementapi`` model (``connectedAt``, ``identity.sourceIp`` ...).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from urllib.parse import unquote

from aiohttp import web

from .config import GatewayConfig
from .connections import ClientBufferFull, ConnectionGone, ConnectionRegistry
from .management_auth import ManagementCredentials
from .request_guard import is_browser_request, verify_request
from .sigv4 import SignatureError
from .streams import read_at_most

logger = logging.getLogger("ws_routes.local_gateway")

CONNECTIONS_PATH = "/@connections/"


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    """An error response botocore parses as ``error_type``."""
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
    )


def gone(connection_id: str) -> web.Response:
    return aws_error(410, "GoneException", f"Connection {connection_id} is gone")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _frame(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class ManagementApi:
    """Answers ``@connections`` requests against the gateway's open connections.

    Every request must be SigV4-signed by one of ``credentials`` (API Gateway: 403
    ``ForbiddenException``), and none may come from a browser: a page could otherwise POST
    ``text/plain`` to a known id without any CORS preflight.
    """

    def __init__(
        self,
        config: GatewayConfig,
        registry: ConnectionRegistry,
        credentials: ManagementCredentials,
    ) -> None:
        self.config = config
        self.registry = registry
        self.credentials = credentials

    async def handle(self, request: web.Request, raw_id: str) -> web.StreamResponse:
        """``raw_id`` is the path segment after ``/@connections/``, still percent-encoded."""
        if is_browser_request(request.headers):
            # SDKs never send Origin or Sec-Fetch-*; browsers do on cross-origin POST/DELETE.
            return aws_error(
                403, "ForbiddenException", "Browser requests (with Origin) are refused."
            )
        try:
            body = await self._read_body(request)
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        try:
            verify_request(request, body, self.credentials)
        except SignatureError as error:
            return aws_error(403, "ForbiddenException", str(error))
        if request.method not in ("GET", "POST", "DELETE"):
            return aws_error(405, "MethodNotAllowedException", f"{request.method} not allowed")
        if not raw_id or "/" in raw_id:
            return aws_error(404, "NotFoundException", "No such resource")
        connection_id = unquote(raw_id)
        connection = self.registry.get(connection_id)
        if connection is None:
            return gone(connection_id)
        if request.method == "GET":
            return web.json_response(
                {
                    "connectedAt": _iso(connection.connected_at),
                    "identity": {
                        "sourceIp": connection.source_ip,
                        "userAgent": connection.user_agent,
                    },
                    "lastActiveAt": _iso(connection.last_active_at),
                }
            )
        if request.method == "DELETE":
            connection.close(1000, "")
            return web.Response(status=204)
        fault = await self._injected_fault()
        if fault is not None:
            return fault
        try:
            await connection.send(_frame(body))
        except ConnectionGone:
            return gone(connection_id)
        except ClientBufferFull:
            return aws_error(
                429, "LimitExceededException", "The WebSocket client side buffer is full"
            )
        return web.Response(status=200)

    async def _injected_fault(self) -> web.Response | None:
        """The failure ``--management-faults`` draws for this post, or ``None`` to deliver."""
        faults = self.config.management_faults
        fault = None if faults is None else faults.draw()
        if faults is None or fault is None:
            return None
        logger.info("@connections: injected fault %s", fault)
        if fault == "500":
            return aws_error(500, "InternalServerErrorException", "Internal server error")
        if fault == "429":
            return aws_error(429, "LimitExceededException", "Rate exceeded")
        await asyncio.sleep(faults.hang_seconds)
        return aws_error(504, "InternalServerErrorException", "Endpoint request timed out")

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.config.max_message_bytes
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        body = await read_at_most(request.content, limit)
        if body is None:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1)
        return body

    def _too_large(self) -> web.Response:
        return aws_error(
            413,
            "PayloadTooLargeException",
            f"Message too long. Max length is {self.config.max_message_bytes} bytes.",
        )
