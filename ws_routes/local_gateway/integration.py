"""The HTTP_PROXY integration: how the local gateway POSTs events to Django.

It sends exactly the header contract of DESIGN.md, as the integration request parameters that
``syncroutes`` configures on a real gateway would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from ..contract import event_headers
from .aws_request import gateway_headers
from .config import GatewayConfig
from .ids import new_request_id
from .streams import read_at_most

logger = logging.getLogger("ws_routes.local_gateway")

CONNECT = "CONNECT"
MESSAGE = "MESSAGE"
DISCONNECT = "DISCONNECT"

#: Bytes of an integration response body the gateway reads; a reply larger than one WebSocket
#: message could not reach the client anyway.
MAX_RESPONSE_BYTES = 128 * 1024


class IntegrationError(Exception):
    """Django could not be reached or answered unusably; ``message`` is what AWS says."""

    message = "Internal server error"
    status = 500


class IntegrationTimeout(IntegrationError):
    """Django did not answer within the integration timeout (29 s on AWS)."""

    message = "Endpoint request timed out"
    status = 504


@dataclass(frozen=True)
class IntegrationResponse:
    """What Django answered: status, headers, body (at most ``MAX_RESPONSE_BYTES``)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class EventContext:
    """The ``context`` API Gateway maps into headers for one event."""

    event: str
    route: str
    connection_id: str
    source_ip: str
    request_id: str
    # What only a Lambda event carries (``requestContext``): the handshake's User-Agent,
    # when the socket opened (ms), and on DISCONNECT the close code and reason.
    user_agent: str | None = None
    connected_at_ms: int | None = None
    disconnect: tuple[int, str] | None = None


def error_frame(error: IntegrationError, connection_id: str, request_id: str) -> str:
    """The JSON frame API Gateway sends a client when a message's integration failed."""
    return json.dumps(
        {"message": error.message, "connectionId": connection_id, "requestId": request_id}
    )


class Integration:
    """POSTs gateway events to the one target URL with the DESIGN.md headers.

    Example (inside a running loop)::

        integration = Integration(config, aiohttp.ClientSession())
        response = await integration.call(EventContext(...), body=b'{"action": "ping"}')
    """

    def __init__(self, config: GatewayConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self._timeout = aiohttp.ClientTimeout(total=config.integration_timeout)
        #: ``X-Forwarded-Port``: the port clients reach, set by the server once it listens.
        self.forwarded_port: int | None = None

    def aws_headers(
        self, context: EventContext, api_id: str, handshake: Mapping[str, str] | None = None
    ) -> CIMultiDict[str]:
        """The headers API Gateway adds itself (:func:`.aws_request.gateway_headers`)."""
        return gateway_headers(
            context, api_id=api_id, forwarded_port=self.forwarded_port, handshake=handshake
        )

    def context(
        self, event: str, route: str, connection_id: str, source_ip: str, **lambda_only: Any
    ) -> EventContext:
        """A new event's context (``lambda_only``: :class:`EventContext`'s optional fields)."""
        return EventContext(event, route, connection_id, source_ip, new_request_id(), **lambda_only)

    def url(self, query_string: str = "") -> str:
        """The target URL, with the handshake's query string appended on CONNECT."""
        target = self.config.target or ""
        if not query_string:
            return target
        scheme, netloc, path, query, _ = urlsplit(target)
        query = f"{query}&{query_string}" if query else query_string
        return urlunsplit((scheme, netloc, path, query, ""))

    def headers(self, context: EventContext) -> CIMultiDict[str]:
        config = self.config
        return CIMultiDict(
            event_headers(
                secret=config.secret or "",
                connection_id=context.connection_id,
                event=context.event,
                route=context.route,
                source_ip=context.source_ip,
                request_id=context.request_id,
                api_id=config.api_id,
                stage=config.stage,
            )
        )

    async def call(
        self,
        context: EventContext,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        query_string: str = "",
        handshake_headers: Mapping[str, str] | None = None,
    ) -> IntegrationResponse:
        """POST one event; raises ``IntegrationTimeout`` / ``IntegrationError`` like AWS fails."""
        headers = self.aws_headers(context, self.config.api_id, handshake_headers)
        headers.update(self.headers(context))
        if content_type:
            headers["Content-Type"] = content_type
        return await self.post(context, self.url(query_string), headers, body)

    async def post(
        self,
        context: EventContext,
        url: str,
        headers: CIMultiDict[str],
        body: bytes,
        timeout: float | None = None,
    ) -> IntegrationResponse:
        """POST ``body`` to ``url`` as the integration; raises like AWS fails (500 / 504)."""
        client_timeout = self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        logged_url, _, query = url.partition("?")  # never log the query: it may carry ?token=
        try:
            async with self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=client_timeout,
                allow_redirects=False,
                # The client's User-Agent (aws_request.gateway_headers) or none: never aiohttp's.
                skip_auto_headers=("User-Agent",),
            ) as response:
                data = await read_at_most(response.content, MAX_RESPONSE_BYTES)
                if data is None:
                    logger.warning(
                        "%s %s: reply larger than %d bytes cannot be a WebSocket message",
                        context.event,
                        context.route,
                        MAX_RESPONSE_BYTES,
                    )
                    raise IntegrationError()
                if 300 <= response.status < 400:
                    logger.warning(
                        "%s: %s answered a redirect (%s) to %s; API Gateway does not follow "
                        "redirects: check the target URL (trailing slash?)",
                        context.event,
                        logged_url,
                        response.status,
                        response.headers.get("Location", "?"),
                    )
                return IntegrationResponse(response.status, response.headers, data)
        except asyncio.TimeoutError:
            logger.warning("%s %s: %s timed out", context.event, context.route, logged_url)
            raise IntegrationTimeout() from None
        except aiohttp.ClientError as error:
            logger.warning(
                "%s %s: %s unreachable: %s",
                context.event,
                context.route,
                logged_url,
                str(error).replace(query, "…") if query else error,
            )
            raise IntegrationError() from None
