"""API Gateway WebSocket Lambda-proxy events as AWS sends them, each checked by code nobody here
wrote: aws-lambda-powertools' parser models (``APIGatewayWebSocket*EventModel``).

Shapes: https://docs.aws.amazon.com/apigateway/latest/developerguide/
apigateway-websocket-api-integration-requests.html and the powertools test events.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from ws_routes.aws_lambda import handler, reset_gateway_cache

API_ID = "abc123"
STAGE = "production"
DOMAIN = f"{API_ID}.execute-api.eu-west-2.amazonaws.com"
SOURCE_IP = "203.0.113.7"
_ids = itertools.count(1)

MODELS = {
    "CONNECT": APIGatewayWebSocketConnectEventModel,
    "MESSAGE": APIGatewayWebSocketMessageEventModel,
    "DISCONNECT": APIGatewayWebSocketDisconnectEventModel,
}


def new_connection_id() -> str:
    return f"LConn{next(_ids):010d}="


def _context(kind: str, route_key: str, connection_id: str, **overrides: Any) -> dict[str, Any]:
    n = next(_ids)
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": kind,
        "extendedRequestId": f"Ext{n:08d}=",
        "requestTime": "06/Dec/2026:20:00:00 +0000",
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": 1796587200000,
        "requestTimeEpoch": 1796587200123,
        "identity": {"userAgent": "Mozilla/5.0", "sourceIp": SOURCE_IP},
        "requestId": f"Req{n:08d}=",
        "domainName": DOMAIN,
        "connectionId": connection_id,
        "apiId": API_ID,
    }
    if kind == "MESSAGE":
        context["messageId"] = f"Msg{n:08d}="
    if kind == "DISCONNECT":
        context.update(disconnectStatusCode=1001, disconnectReason="Going away")
    context.update(overrides)
    return context


def validated(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` after its powertools model accepted it (raises ``ValidationError`` if not)."""
    MODELS[event["requestContext"]["eventType"]].model_validate(event)
    return event


def connect_event(
    connection_id: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> dict[str, Any]:
    all_headers = {
        "Host": DOMAIN,
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "X-Amzn-Trace-Id": "Root=1-5f0b8f3a-1234567890abcdef12345678",
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "requestContext": _context("CONNECT", "$connect", connection_id, **context),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return validated(event)


def message_event(
    connection_id: str, body: Any, *, base64_encoded: bool = False, **context: Any
) -> dict[str, Any]:
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_encoded and isinstance(body, str):
        body = base64.b64encode(body.encode()).decode()
    return validated(
        {
            "requestContext": _context("MESSAGE", "$default", connection_id, **context),
            "body": body,
            "isBase64Encoded": base64_encoded,
        }
    )


def disconnect_event(connection_id: str, **context: Any) -> dict[str, Any]:
    headers = {"Host": DOMAIN, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return validated(
        {
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "requestContext": _context("DISCONNECT", "$disconnect", connection_id, **context),
            "isBase64Encoded": False,
        }
    )


class FakeContext:
    """What the Lambda runtime passes as ``context`` (only what the handler reads)."""

    aws_request_id = "11111111-2222-3333-4444-555555555555"
    function_name = "ws-routes"


def invoke(event: Any) -> dict[str, Any]:
    """The handler's answer, checked to be the documented ``{"statusCode", "body"}`` shape."""
    result = handler(event, FakeContext())
    assert set(result) == {"statusCode", "body"}
    assert isinstance(result["statusCode"], int) and isinstance(result["body"], str)
    return result


def reply(result: dict[str, Any]) -> Any:
    return json.loads(result["body"]) if result["body"] else None


@pytest.fixture
def lambda_settings(settings):
    """Allow the test API; keep the test transaction's connection, as Django's test client does
    (the handler's ``request_started``/``request_finished`` would close it)."""
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LAMBDA_GATEWAYS": [f"{API_ID}/{STAGE}"]}
    reset_gateway_cache()
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield settings
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    reset_gateway_cache()
