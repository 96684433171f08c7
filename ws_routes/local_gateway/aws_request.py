"""What API Gateway itself puts in an HTTP integration request: its headers, its ``$context``.

- :func:`gateway_headers`: the headers AWS adds to every integration request (``X-Forwarded-*``,
  ``X-Amzn-Trace-Id``, ``X-Amzn-Apigateway-Api-Id``) and, on ``$connect``, the handshake's own
  (``Sec-WebSocket-*``, ``User-Agent``...). docs/aws-fidelity.md cites the source of each one.
- :func:`context_value`: the value of one ``context.*`` mapping source, for every variable the
  AWS developer guide's "WebSocket API mapping template reference" lists;
  :func:`is_context_variable` is how create/update-integration refuses any other name.
- :func:`safe_header_value`: a value with a control character (CR/LF: header injection) or over
  :data:`MAX_HEADER_VALUE_BYTES` is never sent.

Example: ``headers = gateway_headers(context, api_id="abc", forwarded_port=8001, handshake=h)``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl

from multidict import CIMultiDict


class EventContext(Protocol):
    """What this module reads of :class:`.integration.EventContext` (no import: no cycle)."""

    @property
    def event(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def connection_id(self) -> str: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def user_agent(self) -> str | None: ...
    @property
    def connected_at_ms(self) -> int | None: ...
    @property
    def disconnect(self) -> tuple[int, str] | None: ...


CONNECT = "CONNECT"
MESSAGE = "MESSAGE"
DISCONNECT = "DISCONNECT"

#: AWS developer guide, "Amazon API Gateway quotas" (WebSocket APIs): "Total combined size of
#: request line and header values: 10240 bytes". One value over it cannot have come from AWS.
MAX_HEADER_VALUE_BYTES = 10240

#: The ``$context`` variables of WebSocket APIs, AWS developer guide "WebSocket API mapping
#: template reference" (apigateway-websocket-api-mapping-template-reference.html), plus the
#: three the same events carry in their Lambda ``requestContext`` (DG
#: apigateway-websocket-api-integration-requests.html; aws-lambda-powertools'
#: APIGatewayWebSocket*EventModel): messageDirection, disconnectStatusCode, disconnectReason.
#: ``authorizer.{property}`` is any property (``AUTHORIZER_PREFIX``).
CONTEXT_VARIABLES = frozenset(
    {
        "apiId",
        "authorizer.principalId",
        "connectedAt",
        "connectionId",
        "disconnectReason",
        "disconnectStatusCode",
        "domainName",
        "error.message",
        "error.messageString",
        "error.responseType",
        "error.validationErrorString",
        "eventType",
        "extendedRequestId",
        "identity.accountId",
        "identity.apiKey",
        "identity.apiKeyId",
        "identity.caller",
        "identity.cognitoAuthenticationProvider",
        "identity.cognitoAuthenticationType",
        "identity.cognitoIdentityId",
        "identity.cognitoIdentityPoolId",
        "identity.sourceIp",
        "identity.user",
        "identity.userAgent",
        "identity.userArn",
        "messageDirection",
        "messageId",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "routeKey",
        "stage",
        "status",
    }
)
AUTHORIZER_PREFIX = "authorizer."
_PROPERTY = re.compile(r"[A-Za-z0-9_$-]{1,128}")

#: Handshake headers the ``$connect`` integration receives (besides the ones AWS sets itself).
#: AWS's example ``$connect`` events (DG apigateway-websocket-api-integration-requests.html,
#: powertools' test events) carry ``Sec-WebSocket-Extensions``/``-Key``/``-Version``; Cookie,
#: Origin and Sec-WebSocket-Protocol are the client's, passed through (observed).
HANDSHAKE_HEADERS = (
    "Cookie",
    "Origin",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
)

#: What :func:`gateway_headers` adds to every event (the ``X-`` ones).
GATEWAY_HEADER_NAMES = (
    "X-Forwarded-For",
    "X-Real-Ip",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Amzn-Trace-Id",
    "X-Amzn-Apigateway-Api-Id",
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def is_context_variable(name: str) -> bool:
    """Whether ``context.{name}`` is a variable AWS documents for WebSocket APIs."""
    if name in CONTEXT_VARIABLES:
        return True
    prop = name.removeprefix(AUTHORIZER_PREFIX)
    return prop != name and _PROPERTY.fullmatch(prop) is not None


def safe_header_value(value: str | None) -> str | None:
    """``value``, or ``None`` when it must not be sent (CR/LF or another control, too long)."""
    if value is None or _CONTROL.search(value):
        return None
    if len(value.encode("utf-8", "surrogateescape")) > MAX_HEADER_VALUE_BYTES:
        return None
    return value


def request_time(epoch_ms: int) -> str:
    """``$context.requestTime``: CLF ``dd/MMM/yyyy:HH:mm:ss +0000`` (no locale)."""
    t = time.gmtime(epoch_ms / 1000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"
    )


def trace_id(now: float | None = None) -> str:
    """An ``X-Amzn-Trace-Id``: ``Root=1-{epoch seconds, 8 hex}-{96 random bits, 24 hex}``.

    The format is AWS X-Ray's tracing header (X-Ray developer guide, "Tracing header").
    """
    seconds = int(time.time() if now is None else now)
    return f"Root=1-{seconds:08x}-{secrets.token_hex(12)}"


def context_value(
    name: str,
    context: EventContext,
    *,
    api_id: str,
    stage: str,
    domain_name: str,
    now_ms: int,
) -> str | None:
    """The value of ``context.{name}`` for this event; ``None``: no value (nothing is sent).

    The local gateway has no authorizer, no API keys, no IAM or Cognito caller and no error
    yet when it calls the integration: those variables exist but have no value here.
    """
    event = context.event
    if name == "messageId":
        return context.request_id if event == MESSAGE else None
    if name in ("disconnectStatusCode", "disconnectReason"):
        if event != DISCONNECT or context.disconnect is None:
            return None
        code, reason = context.disconnect
        return str(code) if name == "disconnectStatusCode" else reason
    values = {
        "apiId": api_id,
        "connectionId": context.connection_id,
        "connectedAt": str(context.connected_at_ms or now_ms),
        "domainName": domain_name,
        "eventType": event,
        "extendedRequestId": context.request_id,
        "identity.sourceIp": context.source_ip,
        "identity.userAgent": context.user_agent,
        "messageDirection": "IN",
        "requestId": context.request_id,
        "requestTime": request_time(now_ms),
        "requestTimeEpoch": str(now_ms),
        "routeKey": context.route,
        "stage": stage,
    }
    return values.get(name)


def passthrough_query(query_string: str, mapped: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``$connect`` to an ``HTTP_PROXY`` integration: the handshake's query, then the mapped.

    A mapped parameter replaces the handshake's of the same name (no duplicate). That AWS
    passes the query string through is **unknown** in its guide; the reference package's
    ``$connect`` reads ``ws_token`` and ``channel`` from it, unmapped, on AWS.
    """
    names = {name for name, _ in mapped}
    client = parse_qsl(query_string, keep_blank_values=True)
    return [(name, value) for name, value in client if name not in names] + mapped


def gateway_headers(
    context: EventContext,
    *,
    api_id: str,
    forwarded_port: int | None,
    handshake: Mapping[str, str] | None = None,
) -> CIMultiDict[str]:
    """The headers API Gateway adds to one integration request (see docs/aws-fidelity.md).

    ``Host`` is the integration endpoint's (the HTTP client sets it from the URL), as AWS
    overwrites it; on ``$connect`` the handshake headers of :data:`HANDSHAKE_HEADERS` follow.
    ``User-Agent`` is the client's handshake one on every event (none if it sent none).
    """
    headers: CIMultiDict[str] = CIMultiDict()
    handshake = handshake or {}
    if context.event == CONNECT:
        for name in HANDSHAKE_HEADERS:
            value = safe_header_value(handshake.get(name))
            if value is not None:
                headers[name] = value
    user_agent = context.user_agent
    if user_agent is None and context.event == CONNECT:
        user_agent = handshake.get("User-Agent")
    user_agent = safe_header_value(user_agent)
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    forwarded = safe_header_value(context.source_ip)
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
        headers["X-Real-Ip"] = forwarded
    headers["X-Forwarded-Proto"] = "http"  # the local gateway serves ws:// (AWS: wss, https)
    if forwarded_port:
        headers["X-Forwarded-Port"] = str(forwarded_port)
    headers["X-Amzn-Trace-Id"] = trace_id()
    if safe_header_value(api_id):
        headers["X-Amzn-Apigateway-Api-Id"] = api_id
    return headers
