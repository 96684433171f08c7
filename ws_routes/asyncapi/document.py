"""The router as an AsyncAPI 3.0 document: what ``wsschema`` writes and the staff page serves.

The document describes the server's side of the socket (AsyncAPI's "application"): each route is
an operation the server *receives*, with its reply (data or error envelope); each declared push
is an operation the server *sends*. Example::

    from ws_routes.asyncapi import build_document
    document = build_document(router, title="Chat", server=gateway_server(gateway))
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from django.conf import settings

from ..channel_rules import ChannelRule
from ..conf import ws_setting
from ..library_pushes import LIBRARY_PUSHES
from ..routing import Route, Router
from .codes import UNKNOWN_ROUTE, route_codes
from .components import Ids, SchemaComponents, safe_id

ASYNCAPI_VERSION = "3.0.0"
#: The socket itself: every message of an API Gateway WebSocket API travels on one connection.
SOCKET = "socket"
#: A message id as the view accepts it (views._Message.parse).
ID_SCHEMA = {
    "description": "Echoed in the reply so the client can match it to its request.",
    "oneOf": [
        {"type": "string", "maxLength": 128},
        {"type": "integer", "minimum": -(2**53) + 1, "maximum": 2**53 - 1},
    ],
}
_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")


def placeholder_server() -> dict[str, Any]:
    """The ``execute-api`` URL of a gateway not known yet, with its parts as variables."""
    return {
        "host": "{apiId}.execute-api.{region}.amazonaws.com",
        "pathname": "/{stage}",
        "protocol": "wss",
        "description": "The API Gateway WebSocket API (manage.py wsschema --gateway NAME "
        "writes the real URL).",
        "variables": {
            "apiId": {"description": "The API id (createApiGateway prints it)."},
            "region": {"default": ws_setting("REGION") or "us-east-1"},
            "stage": {"default": "production"},
        },
    }


def _summary(fn: Any) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _with_envelope(body: Any, selection_key: str, key: str | None) -> dict[str, Any]:
    """The client's whole frame: the route's body schema plus the action and id fields."""
    action: dict[str, Any] = {"type": "string", "maxLength": 128}
    if key is not None:
        action = {"type": "string", "const": key}
    envelope = {selection_key: action, "id": ID_SCHEMA}
    if isinstance(body, dict) and "$ref" not in body and body.get("type", "object") == "object":
        merged = dict(body)
        merged["type"] = "object"
        merged["properties"] = {**envelope, **body.get("properties", {})}
        if isinstance(body.get("maxProperties"), int):  # counted without the action and id
            merged["maxProperties"] = body["maxProperties"] + len(envelope)
        if key is not None:
            merged["required"] = [selection_key, *body.get("required", [])]
        return merged
    frame = {"type": "object", "properties": envelope, "required": [selection_key]}
    if key is None:
        frame["required"] = []
    return frame if body is None else {"allOf": [frame, body]}


class DocumentBuilder:
    """Builds one document; every map gets unique, AsyncAPI-safe keys."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.schemas = SchemaComponents()
        self.messages: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}
        self._message_ids = Ids()
        self._operation_ids = Ids()
        self._channel_ids = Ids()
        self._channel_ids.new(SOCKET)
        self.push_refs: dict[str, dict[str, str]] = {}

    def _message(self, name: str, message: dict[str, Any]) -> dict[str, str]:
        key = self._message_ids.new(name)
        self.messages[key] = message
        return {"$ref": f"#/channels/{SOCKET}/messages/{key}"}

    def add_route(self, route: Route, key: str | None) -> None:
        selection_key = self.router.route_selection_key
        label = key if key is not None else "$default"
        body = self.schemas.embed(route.schema, f"{label}.body") if route.schema else None
        codes = route_codes(route.login_required, bool(route.permission), bool(route.reply_schema))
        summary = _summary(route.handler)
        request = self._message(
            label,
            {
                "name": label,
                "title": f"{label} (client to server)",
                **({"summary": summary} if summary else {}),
                "payload": _with_envelope(body, selection_key, key),
            },
        )
        data = (
            self.schemas.embed(route.reply_schema, f"{label}.reply") if route.reply_schema else {}
        )
        echo = {selection_key: {"type": ["string", "null"]}, "id": ID_SCHEMA}
        reply = self._message(
            f"{label}.reply",
            {
                "name": f"{label}.reply",
                "title": f"Reply to {label}",
                "summary": "What the handler returned, under data (no frame if it returned None).",
                "payload": {
                    "type": "object",
                    "required": [selection_key, "data"],
                    "properties": {**echo, "data": data},
                },
            },
        )
        error = self._message(
            f"{label}.error",
            {
                "name": f"{label}.error",
                "title": f"Error answering {label}",
                "summary": "A WsError the handler raised, or one of the library's codes.",
                "payload": {
                    "type": "object",
                    "required": [selection_key, "error"],
                    "properties": {**echo, "error": {"$ref": "#/components/schemas/Error"}},
                },
                "x-ws-routes-error-codes": codes,
            },
        )
        description = [f"login required: {'yes' if route.login_required else 'no'}"]
        if route.permission:
            description.append(f"permission: {route.permission}")
        if route.gateway_validation:
            description.append("validated by API Gateway too (gateway_validation)")
        self.operations[self._operation_ids.new(label)] = {
            "action": "receive",
            "title": label,
            **({"summary": summary} if summary else {}),
            "description": "; ".join(description) + ". Error codes: " + ", ".join(codes) + ".",
            "channel": {"$ref": f"#/channels/{SOCKET}"},
            "messages": [request],
            "reply": {"channel": {"$ref": f"#/channels/{SOCKET}"}, "messages": [reply, error]},
        }

    def add_push(self, name: str, schema: Any, description: str) -> dict[str, str]:
        payload = self.schemas.embed(schema, f"{name}.push")
        ref = self._message(
            f"push.{name}",
            {
                "name": name,
                "title": f"{name} (server to client)",
                **({"description": description} if description else {}),
                "payload": payload,
            },
        )
        self.operations[self._operation_ids.new(f"push.{name}")] = {
            "action": "send",
            "title": f"push {name}",
            "channel": {"$ref": f"#/channels/{SOCKET}"},
            "messages": [ref],
        }
        self.push_refs[name] = ref
        return ref

    def add_channel_rule(self, rule: ChannelRule) -> None:
        """A channel rule of ``router.channel(pattern, presence=..., history=...)``."""
        pattern, presence = rule.pattern, rule.presence
        parts = [f"Channel rule {pattern}: joined with ?channel= on connect or by subscribing."]
        parts.append("Presence: join and leave are pushed." if presence else "No presence.")
        if rule.history:
            kept = [f"the last {rule.history_count}"] if rule.history_count is not None else []
            if rule.history_age is not None:
                kept.append(f"those younger than {rule.history_age.total_seconds():g} s")
            parts.append(
                f"History: {' and '.join(kept)} messages are kept; each push carries `channel` "
                "and `seq`, and a client subscribing with `since` gets what it missed."
            )
        channel: dict[str, Any] = {"address": pattern, "description": " ".join(parts)}
        if presence and "presence" in self.push_refs:  # the declared presence push
            channel["messages"] = {"presence": self.push_refs["presence"]}
        names = list(dict.fromkeys(_PLACEHOLDER.findall(pattern)))
        if names:
            channel["parameters"] = {
                name: {"description": f"{{{name}}} in {pattern}"} for name in names
            }
        self.channels[self._channel_ids.new(pattern)] = channel


def build_document(
    router: Router,
    *,
    title: str | None = None,
    version: str = "1.0.0",
    description: str = "",
    servers: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``router`` as a JSON-ready dict (deterministic: no dates)."""
    builder = DocumentBuilder(router)
    for key, route in sorted(router.routes.items()):
        builder.add_route(route, key)
    if router.default_route is not None:
        builder.add_route(router.default_route, None)
    for declared in sorted(router.messages, key=lambda m: m.name):
        builder.add_push(declared.name, declared.schema, declared.description)
    presence = any(rule.presence for rule in router.channel_rules)
    for name, (schema, about) in sorted(LIBRARY_PUSHES.items()):
        # The library's own pushes (a presence push only where a rule has presence).
        if router.messages.get(name) is None and (name != "presence" or presence):
            builder.add_push(name, schema, about)
    for rule in router.channel_rules:
        builder.add_channel_rule(rule)
    servers = servers if servers is not None else {"gateway": placeholder_server()}
    security = [
        {"$ref": "#/components/securitySchemes/connectToken"},
        {"$ref": "#/components/securitySchemes/sessionCookie"},
    ]
    for server in servers.values():
        server.setdefault("security", security)
    socket = {
        "address": None,
        "title": "The WebSocket connection",
        "description": "API Gateway carries every message on one socket; a client message names "
        f"its route in {router.route_selection_key!r}, a push names its type in "
        f"{router.messages.type_key!r}.",
        "messages": builder.messages,
        "bindings": {"ws": {"query": _connect_query(), "bindingVersion": "0.1.0"}},
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title or f"{router.app_name} WebSocket API",
            "version": version,
            "description": description
            or "Generated by django-ws-routes from the route registry (manage.py wsschema).",
        },
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": {SOCKET: socket, **builder.channels},
        "operations": builder.operations,
        "components": {
            "schemas": {"Error": _error_schema(), **builder.schemas.schemas},
            "securitySchemes": _security_schemes(),
        },
    }


def _connect_query() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            ws_setting("TOKEN_QUERY_PARAM"): {
                "type": "string",
                "description": "One-time connect token (POST to the router's token/ URL).",
            },
            ws_setting("CHANNEL_QUERY_PARAM"): {
                "type": "string",
                "pattern": f"^(?:{ws_setting('CHANNEL_PATTERN')})$",
                "description": "The channel to join on connect.",
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {
                "type": "string",
                "description": "Stable, machine-readable. Each operation lists the library's "
                "codes it can answer; "
                + ", ".join(f"{code} ({when})" for code, (_, when) in UNKNOWN_ROUTE.items())
                + " comes from no route.",
            },
            "message": {"type": "string", "description": "For people."},
            "details": {
                "description": "null, or for invalid_message a list of {path, message} "
                "(path is a JSON path such as $.text)."
            },
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "connectToken": {
            "type": "httpApiKey",
            "in": "query",
            "name": ws_setting("TOKEN_QUERY_PARAM"),
            "description": "A one-time, short-lived token minted by the router's token/ URL "
            "(what browsers use).",
        },
        "sessionCookie": {
            "type": "httpApiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "Django's session cookie, forwarded on connect (refused for browser "
            "origins not in WS_ROUTES['ALLOWED_ORIGINS']).",
        },
    }


def gateway_servers(gateway: Any) -> dict[str, dict[str, Any]]:
    """The ``wss://`` URLs of an ``ApiGateway`` row: its execute-api endpoint, its custom domain.

    AWS: a WebSocket API's ``ApiEndpoint`` is ``wss://{api-id}.execute-api.{region}.amazonaws.com``
    and clients connect to ``{ApiEndpoint}/{stage}`` (apigatewayv2 GetApi, "ApiEndpoint").
    """
    servers: dict[str, dict[str, Any]] = {}
    endpoint = str(getattr(gateway, "api_endpoint", "") or "")
    host = endpoint.split("://", 1)[-1].rstrip("/")
    if host:
        servers[safe_id(gateway.stage_name)] = {
            "host": host,
            "pathname": f"/{gateway.stage_name}",
            "protocol": "wss",
            "description": f"API Gateway {gateway.api_name}, stage {gateway.stage_name}.",
        }
    if gateway.domain_name and gateway.custom_domain_created:
        servers["custom-domain"] = {
            "host": gateway.domain_name,
            "protocol": "wss",
            "description": f"Custom domain of {gateway.api_name} (mapped at its root).",
        }
    return servers or {"gateway": placeholder_server()}
