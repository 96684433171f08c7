"""API Gateway WebSocket Lambda-proxy events, checked, and the WSGI request built from one.

``parse_event`` refuses anything that is not such an event (``WsError`` 400 ``bad_event``:
an HTTP API event, an SQS batch, a truncated ``requestContext``, wrong types, bad base64);
``build_environ`` gives the request the ``HTTP_PROXY`` integration would have posted: the
``X-Ws-*`` context headers (no secret), and on ``$connect`` the handshake's headers and query.
Event shape: https://docs.aws.amazon.com/apigateway/latest/developerguide/
apigateway-websocket-api-integration-requests.html (checked in tests against
aws-lambda-powertools' parser models).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .conf import ws_setting
from .contract import (
    CONNECT,
    DISCONNECT,
    LAMBDA_API_ID_PATTERN,
    LAMBDA_INVOKE,
    LAMBDA_INVOKE_KEY,
    MESSAGE,
    SECRET_HEADER,
    event_headers,
    meta_key,
    valid_stage,
)
from .errors import WsError
from .security import CONNECTION_ID_PATTERN, clean_source_ip

_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")  # no "_": WSGI servers drop those too
_DOMAIN_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}")
#: Handshake headers never forwarded: the handler sets them, or (X-Ws-*) the gateway's context does.
_NOT_FORWARDED = frozenset({"host", "content-length", "content-type"})
MAX_HEADERS = 200
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class LambdaEvent:
    """One API Gateway WebSocket event, checked: what the HTTP request is built from."""

    kind: str
    route_key: str
    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    request_id: str
    source_ip: str
    headers: Mapping[str, str]
    query: str
    body: bytes


def _bad(message: str) -> WsError:
    return WsError("bad_event", message, status=400)


def _text(mapping: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = mapping.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{where}.{key} must be a string")
    return value


def _string_map(event: Mapping[str, Any], key: str, *, multi: bool) -> dict[str, list[str]]:
    """``headers``/``queryStringParameters`` (or their ``multiValue`` forms), type-checked."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise _bad(f"{key} must be an object of at most {MAX_HEADERS} entries")
    result: dict[str, list[str]] = {}
    for name, item in value.items():
        items = item if multi else [item]
        if not isinstance(name, str) or not isinstance(items, list):
            raise _bad(f"{key} must map strings to {'lists of ' if multi else ''}strings")
        if not all(isinstance(one, str) for one in items):
            raise _bad(f"{key} must map strings to {'lists of ' if multi else ''}strings")
        result[name] = items
    if sum(len(n) + sum(len(v) for v in vs) for n, vs in result.items()) > MAX_HEADER_BYTES:
        raise _bad(f"{key} is over {MAX_HEADER_BYTES} bytes")
    return result


def _forwarded_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The handshake's headers as ``request.META`` keys (``$connect``; other events have none)."""
    multi = _string_map(event, "multiValueHeaders", multi=True)
    single = _string_map(event, "headers", multi=False)
    meta: dict[str, str] = {}
    for name, values in (multi or single).items():
        lowered = name.lower()
        if lowered in _NOT_FORWARDED or lowered.startswith("x-ws-"):
            continue
        if not _HEADER_NAME.fullmatch(name):
            continue  # as a WSGI server drops a header it cannot name safely
        separator = "; " if lowered == "cookie" else ", "
        key = meta_key(name)
        meta[key] = separator.join(([meta[key]] if key in meta else []) + values)
    return meta


def _query_string(event: Mapping[str, Any]) -> str:
    multi = _string_map(event, "multiValueQueryStringParameters", multi=True)
    single = _string_map(event, "queryStringParameters", multi=False)
    return urlencode([(name, v) for name, values in (multi or single).items() for v in values])


def _body(event: Mapping[str, Any]) -> bytes:
    """The frame as bytes: base64 decoded strictly; ``too_large`` before decoding a huge one."""
    body = event.get("body")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise _bad("isBase64Encoded must be a boolean")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _bad("body must be a string or null")
    limit = ws_setting("MAX_BODY_BYTES")
    longest = (limit // 3 + 2) * 4 if encoded else limit  # characters that can be within limit
    if len(body) > longest:
        raise WsError("too_large", f"Messages are limited to {limit} bytes", status=413)
    if not encoded:
        # A lone surrogate survives as bytes that are not UTF-8: the view answers invalid_json.
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("body is not valid base64 (isBase64Encoded is true)") from None


def parse_event(event: Any) -> LambdaEvent:
    """Check ``event`` is an API Gateway WebSocket event; ``WsError`` (400 ``bad_event``) if not."""
    if not isinstance(event, dict):
        raise _bad(f"the event is a {type(event).__name__}, not an API Gateway WebSocket event")
    context = event.get("requestContext")
    if not isinstance(context, dict):
        what = "an SQS/SNS record batch" if "Records" in event else "no requestContext"
        raise _bad(f"not an API Gateway WebSocket event ({what})")
    kind = context.get("eventType")
    if kind not in (CONNECT, MESSAGE, DISCONNECT):
        if "http" in context or event.get("version") == "2.0":
            raise _bad("an HTTP API (payload 2.0) event, not a WebSocket one")
        raise _bad("requestContext.eventType must be CONNECT, MESSAGE or DISCONNECT")
    where = "requestContext"
    connection_id = _text(context, "connectionId", where)
    if not CONNECTION_ID_PATTERN.fullmatch(connection_id):
        raise _bad("requestContext.connectionId is malformed")
    api_id = _text(context, "apiId", where)
    stage = _text(context, "stage", where)
    if not LAMBDA_API_ID_PATTERN.fullmatch(api_id) or not valid_stage(stage):
        raise _bad("requestContext.apiId or requestContext.stage is malformed")
    domain_name = _text(context, "domainName", where)
    if not _DOMAIN_NAME.fullmatch(domain_name):
        raise _bad("requestContext.domainName is malformed")
    identity = context.get("identity")
    if identity is not None and not isinstance(identity, dict):
        raise _bad("requestContext.identity must be an object")
    return LambdaEvent(
        kind=kind,
        route_key=_text(context, "routeKey", where)[:128],
        connection_id=connection_id,
        api_id=api_id,
        stage=stage,
        domain_name=domain_name,
        request_id=_text(context, "requestId", where, required=False)[:128],
        source_ip=_text(identity or {}, "sourceIp", f"{where}.identity", required=False)[:64],
        headers=_forwarded_headers(event) if kind == CONNECT else {},
        query=_query_string(event) if kind == CONNECT else "",
        body=_body(event),
    )


def build_environ(event: LambdaEvent, path: str) -> dict[str, Any]:
    """The WSGI environ of the request the ``HTTP_PROXY`` integration would have posted."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": event.query,
        "SERVER_NAME": event.domain_name,
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": clean_source_ip(event.source_ip) or "",
        "CONTENT_TYPE": "application/json" if event.kind == MESSAGE else "",
        "CONTENT_LENGTH": str(len(event.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(event.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **event.headers,
        "HTTP_HOST": event.domain_name,
        LAMBDA_INVOKE_KEY: LAMBDA_INVOKE,
    }
    context = event_headers(
        secret="",
        connection_id=event.connection_id,
        event=event.kind,
        route=event.route_key,
        source_ip=event.source_ip,
        request_id=event.request_id,
        api_id=event.api_id,
        stage=event.stage,
    )
    environ.update({meta_key(name): value for name, value in context.items()})
    del environ[meta_key(SECRET_HEADER)]
    return environ
