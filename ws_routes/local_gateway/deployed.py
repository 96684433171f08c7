"""A deployment snapshot, interpreted as API Gateway runs it.

- Route selection: the API's ``routeSelectionExpression`` (``$request.body.action``) evaluated
  on the message; no match goes to ``$default``; no ``$default`` either: no route (AWS answers
  ``Forbidden``). AWS developer guide, "WebSocket selection expressions".
- Integration: ``integrationUri`` with the integration's ``requestParameters`` interpreted from
  their sources: static ``'...'``, ``context.*``, and on ``$connect``
  ``route.request.querystring.*`` / ``route.request.header.*``; a source with no value sends
  nothing. AWS developer guide, "Setting up data mapping for WebSocket APIs".
- Replies: only a route with a ``routeResponseSelectionExpression`` and a ``$default`` route
  response sends the integration's answer back. AWS developer guide, "Set up a WebSocket API
  integration response / two-way communication".
- ``MOCK`` and non-proxy ``HTTP`` integrations run their request templates and integration
  responses (:mod:`.mock_integration`, templates in the :mod:`.vtl` subset).
- ``AWS_PROXY`` integrations invoke the in-process handler given for the function their
  ``integrationUri`` names (:mod:`.lambda_proxy`); none given: 500, and a log line.
- Request models: ``requestModels`` chosen by ``modelSelectionExpression`` (falling back to
  ``$default``), JSON Schema draft 4, checked before the integration is called.
  AWS developer guide, "Request validation for WebSocket APIs".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jsonschema import Draft4Validator
from multidict import CIMultiDict
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from .integration import (
    CONNECT,
    EventContext,
    Integration,
    IntegrationResponse,
    forward_handshake_headers,
)
from .lambda_proxy import LambdaFunctions, function_of
from .mock_integration import request_body, respond, run_mock
from .route_selection import DEFAULT_ROUTE


def _never_retrieve(uri: str) -> Resource[Any]:
    """A model's ``$ref`` to a URL or a file is never fetched (a state file may carry one)."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


NOTHING_TO_RETRIEVE: Registry[Any] = Registry(retrieve=_never_retrieve)  # type: ignore[call-arg]

logger = logging.getLogger("ws_routes.local_gateway")

HEADER_TARGET = "integration.request.header."
QUERY_TARGET = "integration.request.querystring."
QUERY_SOURCE = "route.request.querystring."
HEADER_SOURCE = "route.request.header."


def body_path(expression: str | None) -> list[str] | None:
    """``$request.body.a.b`` / ``${request.body.a.b}`` → ``["a", "b"]``; else ``None``."""
    if not expression:
        return None
    if expression.startswith("${") and expression.endswith("}"):
        expression = "$" + expression[2:-1]
    if not expression.startswith("$request.body.") or len(expression) <= len("$request.body."):
        return None
    return expression[len("$request.body.") :].split(".")


def evaluate(path: list[str] | None, data: str) -> str | None:
    """The value a body selection expression selects in ``data``, as a string, or ``None``."""
    if path is None:
        return None
    try:
        value: Any = json.loads(data)
    except (ValueError, RecursionError):
        return None
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


class DeployedStage:
    """One stage running one deployment snapshot (see the module docstring for the rules)."""

    def __init__(
        self,
        api_id: str,
        stage: str,
        snapshot: Mapping[str, Any],
        functions: LambdaFunctions | None = None,
    ) -> None:
        self.functions = functions or LambdaFunctions({}, "127.0.0.1")
        self.api_id = api_id
        self.stage = stage
        self.snapshot = snapshot
        api = snapshot["api"]
        self._selection = body_path(api.get("routeSelectionExpression"))
        self.routes = {route["routeKey"]: route for route in snapshot["routes"].values()}
        self._integrations = snapshot["integrations"]
        self._schemas: dict[str, Draft4Validator] = {}
        for model in snapshot["models"].values():
            try:
                self._schemas[model["name"]] = Draft4Validator(
                    json.loads(model["schema"]), registry=NOTHING_TO_RETRIEVE
                )
            except (ValueError, RecursionError, KeyError):
                logger.warning("model %s is not a JSON schema; not enforced", model.get("name"))
        self._replying = {
            route["routeKey"]
            for route in snapshot["routes"].values()
            if route.get("routeResponseSelectionExpression")
            and any(
                response.get("routeResponseKey") == DEFAULT_ROUTE
                for response in snapshot["routeResponses"].get(route["routeId"], {}).values()
            )
        }

    def select_route(self, data: str) -> str | None:
        value = evaluate(self._selection, data)
        if value is not None and value in self.routes and not value.startswith("$"):
            return value
        return DEFAULT_ROUTE if DEFAULT_ROUTE in self.routes else None

    def has_route(self, key: str) -> bool:
        return key in self.routes

    def replies(self, route: str) -> bool:
        return route in self._replying

    def body_refused(self, route: str, data: str) -> bool:
        definition = self.routes.get(route, {})
        models = definition.get("requestModels") or {}
        if not models:
            return False
        expression = definition.get("modelSelectionExpression")
        key = evaluate(body_path(expression), data) if expression != DEFAULT_ROUTE else None
        name = models.get(key) if key is not None else None
        name = name or models.get(DEFAULT_ROUTE)
        if name is None:
            return True  # AWS: no matching model and no $default model: validation fails
        validator = self._schemas.get(name)
        if validator is None:
            return False
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            return True
        try:
            return not validator.is_valid(document)
        except (RecursionError, Unresolvable):  # a $ref loop, or one that leaves the model
            return True

    def _integration(self, route: str) -> Mapping[str, Any]:
        target = str(self.routes[route].get("target", ""))
        return self._integrations[target.removeprefix("integrations/")]

    def _source(
        self,
        source: str,
        context: EventContext,
        query: Mapping[str, str],
        handshake_headers: Mapping[str, str],
    ) -> str | None:
        if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
            return source[1:-1]
        if context.event == CONNECT and source.startswith(QUERY_SOURCE):
            return query.get(source[len(QUERY_SOURCE) :])
        if context.event == CONNECT and source.startswith(HEADER_SOURCE):
            return handshake_headers.get(source[len(HEADER_SOURCE) :])
        values = {
            "context.connectionId": context.connection_id,
            "context.eventType": context.event,
            "context.routeKey": context.route,
            "context.identity.sourceIp": context.source_ip,
            "context.requestId": context.request_id,
            "context.extendedRequestId": context.request_id,
            "context.apiId": self.api_id,
            "context.stage": self.stage,
        }
        return values.get(source)

    async def call(
        self,
        integration: Integration,
        context: EventContext,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        query_string: str = "",
        handshake_headers: Mapping[str, str] | None = None,
    ) -> IntegrationResponse:
        definition = self._integration(context.route)
        timeout = float(definition.get("timeoutInMillis", 29000)) / 1000
        if definition.get("integrationType") == "AWS_PROXY":
            # The function gets the whole context in its event; requestParameters do not apply.
            uri = str(definition.get("integrationUri", ""))
            return await self.functions.call(
                function_of(uri) or uri,
                context,
                api_id=self.api_id,
                stage=self.stage,
                timeout=timeout,
                body=body,
                query_string=query_string,
                handshake_headers=handshake_headers,
            )
        handshake = CIMultiDict(handshake_headers or {})
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        kind = definition.get("integrationType")
        payload = body.decode("utf-8", "replace")

        def variable(name: str) -> str | None:
            return self._source(f"context.{name}", context, query, handshake)

        if kind == "MOCK":
            return run_mock(definition, payload, variable)
        if kind == "HTTP":  # non-proxy: the request template is the body sent
            body = request_body(definition, payload, variable).encode("utf-8")
        headers: CIMultiDict[str] = CIMultiDict()
        if context.event == CONNECT:
            forward_handshake_headers(headers, handshake)
        mapped_query: list[tuple[str, str]] = []
        for target, source in (definition.get("requestParameters") or {}).items():
            value = self._source(str(source), context, query, handshake)
            if value is None:
                continue
            if target.startswith(HEADER_TARGET):
                headers[target[len(HEADER_TARGET) :]] = value
            elif target.startswith(QUERY_TARGET):
                mapped_query.append((target[len(QUERY_TARGET) :], value))
        if content_type:
            headers["Content-Type"] = content_type
        url = _with_query(str(definition.get("integrationUri", "")), mapped_query)
        answer = await integration.post(context, url, headers, body, timeout)
        if kind != "HTTP":
            return answer
        reply = answer.body.decode("utf-8", "replace")
        return respond(definition, answer.status, reply, payload, variable, answer.headers)


def _with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return url
    scheme, netloc, path, query, _ = urlsplit(url)
    extra = urlencode(pairs)
    return urlunsplit((scheme, netloc, path, f"{query}&{extra}" if query else extra, ""))
