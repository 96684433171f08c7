"""The header contract between API Gateway and the view (DESIGN.md, "The path of one message").

One definition for everything that speaks it: the view reads these headers, ``deploy`` maps them
from API Gateway's context, and the local gateway and ``WsTestClient`` send them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Carries a static mapping ``'secret'``: the first of ``WS_ROUTES["GATEWAY_SECRETS"]``.
SECRET_HEADER = "X-Ws-Secret"
CONNECTION_ID_HEADER = "X-Ws-Connection-Id"
EVENT_HEADER = "X-Ws-Event"
ROUTE_HEADER = "X-Ws-Route"
SOURCE_IP_HEADER = "X-Ws-Source-Ip"
REQUEST_ID_HEADER = "X-Ws-Request-Id"
API_ID_HEADER = "X-Ws-Api-Id"
STAGE_HEADER = "X-Ws-Stage"

#: The other headers, each mapped from an API Gateway context variable.
CONTEXT_HEADERS: Mapping[str, str] = {
    CONNECTION_ID_HEADER: "context.connectionId",
    EVENT_HEADER: "context.eventType",
    ROUTE_HEADER: "context.routeKey",
    SOURCE_IP_HEADER: "context.identity.sourceIp",
    REQUEST_ID_HEADER: "context.requestId",
    API_ID_HEADER: "context.apiId",
    STAGE_HEADER: "context.stage",
}

#: What a gateway secret may be: it is written into an integration mapping as ``'value'``.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{32,256}")

#: Stage names the view and the sender accept (``.`` and ``..`` are refused by valid_stage).
STAGE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def valid_stage(stage: object) -> bool:
    """Whether ``stage`` may name a stage: 1-128 of ``A-Z a-z 0-9 _ . -``, never ``.`` or ``..``.

    The stage becomes a path segment of the ``@connections`` URL (``https://{api}/{stage}/...``),
    so a dot segment would make it point elsewhere. AWS allows only ``[A-Za-z0-9_-]`` in stage
    names of WebSocket APIs; dots stay accepted here for stages created before this check.

    Example: ``valid_stage("production")`` is True, ``valid_stage("..")`` is False.
    """
    return (
        isinstance(stage, str)
        and STAGE_PATTERN.fullmatch(stage) is not None
        and stage.strip(".") != ""
    )


#: The WSGI environ key under which ``ws_routes.aws_lambda`` marks a request it built from a
#: Lambda event (``AWS_PROXY``: invoked through Lambda's IAM-guarded API, so no secret header).
#: Only in-process code can set it: a WSGI server puts strings there, never this object.
LAMBDA_INVOKE_KEY = "ws_routes.lambda_invoke"
LAMBDA_INVOKE = object()

#: An ``apiId`` as an allow-list entry may name it (API Gateway's are 10 lowercase characters).
LAMBDA_API_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def lambda_gateway_entry(entry: object) -> tuple[str, str | None] | None:
    """One ``WS_ROUTES["LAMBDA_GATEWAYS"]`` entry as ``(api_id, stage or None)``, else None.

    Example: ``lambda_gateway_entry("a1b2c3d4e5/production")`` → ``("a1b2c3d4e5", "production")``,
    ``lambda_gateway_entry("a1b2c3d4e5")`` → ``("a1b2c3d4e5", None)`` (any stage).
    """
    if not isinstance(entry, str):
        return None
    api_id, slash, stage = entry.partition("/")
    if not LAMBDA_API_ID_PATTERN.fullmatch(api_id) or (slash and not valid_stage(stage)):
        return None
    return api_id, (stage if slash else None)


#: ``context.eventType`` values.
CONNECT, MESSAGE, DISCONNECT = "CONNECT", "MESSAGE", "DISCONNECT"


def meta_key(header: str) -> str:
    """Where Django's ``request.META`` holds ``header``: ``X-Ws-Event`` → ``HTTP_X_WS_EVENT``."""
    return "HTTP_" + header.upper().replace("-", "_")


def event_headers(
    *,
    secret: str,
    connection_id: str,
    event: str,
    route: str,
    source_ip: str,
    request_id: str,
    api_id: str,
    stage: str,
) -> dict[str, str]:
    """The headers API Gateway's integration adds to one call, as an emulator must send them."""
    return {
        SECRET_HEADER: secret,
        CONNECTION_ID_HEADER: connection_id,
        EVENT_HEADER: event,
        ROUTE_HEADER: route,
        SOURCE_IP_HEADER: source_ip,
        REQUEST_ID_HEADER: request_id,
        API_ID_HEADER: api_id,
        STAGE_HEADER: stage,
    }
