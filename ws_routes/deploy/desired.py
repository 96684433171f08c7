"""What Django wants the API to be: :func:`desired_state` from the gateway row, its router, its
``GatewayRoute`` rows and ``WS_ROUTES``. Pure Django, no AWS call.

Example: ``sorted(desired_state(gateway).routes)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from jsonschema import Draft4Validator, SchemaError

from ..aws_partitions import LAMBDA_FUNCTION_ARN, lambda_integration_uri
from ..checks import SECRET_PATTERN
from ..compat.url_layout import integration_uris, reference_layout_router, resolve_public_path
from ..conf import ws_setting
from ..contract import CONTEXT_HEADERS, SECRET_HEADER
from ..lambda_handler import mounted_router
from ..models import ApiGateway
from ..routing import ROUTE_KEY_PATTERN, Router
from ..schemas import draft4_problems
from .errors import PlanError

#: Routes API Gateway itself defines; always present, never pruned.
BUILTIN_ROUTES = ("$connect", "$disconnect", "$default")

#: Every integration we create carries this description prefix; that is how we find them again.
INTEGRATION_MARKER = "ws_routes:"
ROUTER_ROLE = "router"
CONNECT_ROLE = "connect"

#: Every model we create is named with this prefix (model names are alphanumeric only).
MODEL_PREFIX = "WsRoutes"

#: WebSocket APIs cap integration time at 29 s.
INTEGRATION_TIMEOUT_MS = 29000

DRAFT4_SCHEMA_URI = "http://json-schema.org/draft-04/schema#"

#: A query string parameter name API Gateway accepts in a mapping expression.
_PARAM_NAME = re.compile(r"[A-Za-z0-9._$-]{1,128}")


def gateway_secret() -> str:
    """The secret pushed to the gateway: the first of ``WS_ROUTES["GATEWAY_SECRETS"]``.

    Refuses to go on without one: a gateway without a secret lets anyone who reaches Django
    directly forge connection ids and users' messages. Example: ``secret = gateway_secret()``.
    """
    secrets = ws_setting("GATEWAY_SECRETS")
    if isinstance(secrets, str) or not isinstance(secrets, (list, tuple)) or not secrets:
        raise PlanError(
            "WS_ROUTES['GATEWAY_SECRETS'] is empty: refusing to provision a gateway without a "
            "secret (anyone reaching Django directly could forge WebSocket events). Generate one "
            'with `python -c "import secrets; print(secrets.token_urlsafe(48))"`, put it first '
            "in WS_ROUTES['GATEWAY_SECRETS'] and run syncroutes again."
        )
    secret = secrets[0]
    if not isinstance(secret, str) or not SECRET_PATTERN.fullmatch(secret):
        raise PlanError(
            "WS_ROUTES['GATEWAY_SECRETS'][0] must be 32 to 256 characters from "
            "A-Z a-z 0-9 . _ ~ + / = - (it is written into the integration as a quoted static "
            "value). Run `manage.py check` for details."
        )
    return secret


def _connect_query_params() -> list[str]:
    names = []
    for setting in ("TOKEN_QUERY_PARAM", "CHANNEL_QUERY_PARAM"):
        name = ws_setting(setting)
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise PlanError(
                f"WS_ROUTES[{setting!r}] = {name!r} cannot be mapped by API Gateway: use 1 to 128 "
                "characters from A-Z a-z 0-9 . _ $ -."
            )
        names.append(name)
    return names


def integration_request_parameters(secret: str, *, connect: bool = False) -> dict[str, str]:
    """The integration request parameter mappings of DESIGN.md, for one integration.

    ``connect=True`` adds the query string mappings for the ``$connect`` integration: an
    HTTP_PROXY integration forwards the WebSocket handshake's headers (Cookie, Origin, ...) on
    ``$connect``, but query string parameters of a WebSocket route are only guaranteed to reach
    the backend when the route declares them and the integration maps them
    (``route.request.querystring.NAME``, a source AWS supports only on ``$connect``). The view
    reads ``?token=`` and ``?channel=``, so those two are declared and mapped explicitly; mapping
    a parameter the client did not send sends nothing. That is also why ``$connect`` has its own
    integration (same URL): message routes must not carry ``$connect``-only mappings.

    Example: ``integration_request_parameters(gateway_secret(), connect=True)``.
    """
    params = {f"integration.request.header.{SECRET_HEADER}": f"'{secret}'"}
    for header, source in CONTEXT_HEADERS.items():
        params[f"integration.request.header.{header}"] = source
    if connect:
        for name in _connect_query_params():
            params[f"integration.request.querystring.{name}"] = f"route.request.querystring.{name}"
    return params


def connect_route_request_parameters() -> dict[str, dict[str, bool]]:
    """Optional query string parameters declared on ``$connect`` so the integration may map them."""
    return {
        f"route.request.querystring.{name}": {"Required": False} for name in _connect_query_params()
    }


def resolve_router(gateway: ApiGateway) -> Router:
    """The ``Router`` mounted at the path of ``gateway.target_base_endpoint``.

    Resolved like a request: ``https://www.example.com/ws/`` -> ``resolve("/ws/").func.ws_router``
    (the gateway view carries its router). Example: ``resolve_router(gateway).routes``.
    """
    url = gateway.target_base_endpoint
    if not url:
        raise PlanError(
            f"Gateway {gateway.api_name!r}: target_base_endpoint is blank. Set it to the public "
            "URL where router.urls is mounted, e.g. https://www.example.com/ws/."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlanError(
            f"Gateway {gateway.api_name!r}: target_base_endpoint {url!r} is not an http(s) URL."
        )
    path = parts.path or "/"
    match = resolve_public_path(path)
    if match is not None:
        router = getattr(match.func, "ws_router", None)
        if isinstance(router, Router):
            return router
        raise PlanError(
            f"Gateway {gateway.api_name!r}: the URL path {path!r} is served by "
            f"{match.view_name or match.func!r}, which is not a ws_routes gateway view. Point "
            "target_base_endpoint at the path where you wrote path('...', include(router.urls))."
        )
    reference_router = reference_layout_router(url)  # path("ws/<slug:route>", View.as_view())
    if reference_router is not None:
        return reference_router
    raise PlanError(
        f"Gateway {gateway.api_name!r}: no URL pattern matches {path!r} (the path of "
        f"target_base_endpoint {url!r}). Mount the router there, e.g. "
        "path('ws/', include(router.urls)), or fix target_base_endpoint."
    )


def model_schema(route_key: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The draft 4 model document for a route's schema; raises PlanError if it cannot be one."""
    problems = draft4_problems(schema)
    document = {"$schema": DRAFT4_SCHEMA_URI, **{k: v for k, v in schema.items() if k != "$schema"}}
    if not problems:
        try:
            Draft4Validator.check_schema(document)
        except SchemaError as error:
            path = "/".join(str(part) for part in error.path)
            problems.append(f"/{path}: {error.message}")
        except RecursionError:
            problems.append("/: nested too deeply to check")
    if problems:
        raise PlanError(
            f"Route {route_key!r} has gateway_validation=True but its schema uses features JSON "
            "Schema draft 4 lacks (API Gateway models are draft 4):\n  "
            + "\n  ".join(problems)
            + "\nRewrite them in draft 4 terms (e.g. const -> enum: [value], $defs -> definitions,"
            " prefixItems -> items: [...]) or set gateway_validation=False to validate in Django "
            "only."
        )
    return document


def model_name(route_key: str) -> str:
    """The model name for a route: alphanumeric, prefixed, unique per key (hash suffix).

    Example: ``model_name("room.join")`` -> ``"WsRoutesRoomJoin"`` + 8 hex digits.
    """
    readable = "".join(ch for ch in route_key.title() if ch.isalnum())[:80]
    digest = hashlib.sha256(route_key.encode("utf-8")).hexdigest()[:8]
    return f"{MODEL_PREFIX}{readable}{digest}"


@dataclass(frozen=True)
class DesiredIntegration:
    role: str
    uri: str
    request_parameters: Mapping[str, str]
    integration_type: str = "HTTP_PROXY"  # or AWS_PROXY: a Lambda function (docs/lambda.md)

    @property
    def description(self) -> str:
        # A Lambda integration is another integration (switching creates it, then deletes ours).
        suffix = "@lambda" if self.integration_type == "AWS_PROXY" else ""
        return f"{INTEGRATION_MARKER}{self.role}{suffix}"

    def aws_arguments(self) -> dict[str, Any]:
        return {
            "IntegrationType": self.integration_type,
            "IntegrationMethod": "POST",
            "IntegrationUri": self.uri,
            "ConnectionType": "INTERNET",
            "PayloadFormatVersion": "1.0",
            "TimeoutInMillis": INTEGRATION_TIMEOUT_MS,
            "RequestParameters": dict(self.request_parameters),
            "Description": self.description,
        }


@dataclass(frozen=True)
class DesiredModel:
    name: str
    route_key: str
    document: Mapping[str, Any]

    @property
    def schema_text(self) -> str:
        return json.dumps(self.document, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DesiredRoute:
    key: str
    role: str
    two_way: bool
    model: DesiredModel | None = None
    request_parameters: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)


@dataclass
class DesiredState:
    """What AWS should hold, computed from Django alone (no AWS call)."""

    api: dict[str, str]
    integrations: dict[str, DesiredIntegration]
    routes: dict[str, DesiredRoute]
    models: dict[str, DesiredModel]
    stage_name: str
    stage_description: str
    row_roles: dict[str, str]  # GatewayRoute.route_key -> integration role
    warnings: list[str] = field(default_factory=list)


def desired_state(
    gateway: ApiGateway, router: Router | None = None, *, secret: str | None = None
) -> DesiredState:
    """Compute the desired API from the gateway, its router and its ``GatewayRoute`` rows.

    Pure Django, no AWS call; raises :class:`PlanError` for anything AWS would refuse or that
    would leave the gateway unsafe (no secret, a draft-4-incompatible model, a bad row).
    ``secret`` replaces :func:`gateway_secret` (the template emitter passes a placeholder).
    Example: ``sorted(desired_state(gateway).routes)``.
    """
    if gateway.target_lambda_arn:
        return lambda_desired_state(gateway, router, secret=secret)
    secret = gateway_secret() if secret is None else secret
    if router is None:
        router = resolve_router(gateway)
    base_uri = gateway.target_base_endpoint
    if not base_uri:
        raise PlanError(f"Gateway {gateway.api_name!r}: target_base_endpoint is blank.")
    if not gateway.stage_name:
        raise PlanError(f"Gateway {gateway.api_name!r}: stage_name is blank.")
    router_uri, connect_uri = integration_uris(base_uri)  # the reference's slugs when so mounted
    integrations = {
        ROUTER_ROLE: DesiredIntegration(
            ROUTER_ROLE, router_uri, integration_request_parameters(secret)
        ),
        CONNECT_ROLE: DesiredIntegration(
            CONNECT_ROLE, connect_uri, integration_request_parameters(secret, connect=True)
        ),
    }
    return routed_state(
        gateway, router, integrations, connect_route_request_parameters(), secret=secret
    )


def lambda_desired_state(
    gateway: ApiGateway, router: Router | None = None, *, secret: str | None = None
) -> DesiredState:
    """A gateway with ``target_lambda_arn``: every route invokes the function (``AWS_PROXY``).

    No secret and no mappings: the function gets the whole context in its event and answers
    only the project's gateways (docs/lambda.md). The router is the one at
    ``target_base_endpoint`` if set, else the one ``ws_routes.aws_lambda.handler`` serves.
    """
    arn = gateway.target_lambda_arn
    match = LAMBDA_FUNCTION_ARN.fullmatch(arn)
    if match is None:
        raise PlanError(
            f"Gateway {gateway.api_name!r}: target_lambda_arn {arn!r} is not a Lambda function "
            "ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS])."
        )
    if not gateway.stage_name:
        raise PlanError(f"Gateway {gateway.api_name!r}: stage_name is blank.")
    if router is None:
        try:
            if gateway.target_base_endpoint:
                router = resolve_router(gateway)
            else:
                router = mounted_router()[1]
        except ImproperlyConfigured as error:
            raise PlanError(f"Gateway {gateway.api_name!r}: {error}") from None
    uri = lambda_integration_uri(arn, gateway.get_region() or match["region"])
    integrations = {
        role: DesiredIntegration(role, uri, {}, integration_type="AWS_PROXY")
        for role in (ROUTER_ROLE, CONNECT_ROLE)
    }
    return routed_state(gateway, router, integrations, {}, secret=secret)


def routed_state(
    gateway: ApiGateway,
    router: Router,
    integrations: dict[str, DesiredIntegration],
    connect_parameters: Mapping[str, Mapping[str, bool]],
    *,
    secret: str | None = None,
) -> DesiredState:
    """The routes, models and ``GatewayRoute`` rows on top of the router's ``integrations``.

    ``secret``: what a row's own HTTP integration sends (``None``: :func:`gateway_secret`, asked
    only when a row has one: a Lambda gateway without such rows needs no secret)."""
    warnings: list[str] = []
    expected_expression = f"$request.body.{ws_setting('ROUTE_SELECTION_KEY')}"
    if gateway.route_selection_expression != expected_expression:
        warnings.append(
            f"route_selection_expression is {gateway.route_selection_expression!r} but the view "
            f"dispatches on {expected_expression!r} (WS_ROUTES['ROUTE_SELECTION_KEY']); messages "
            "may reach the wrong route."
        )

    routes: dict[str, DesiredRoute] = {
        "$connect": DesiredRoute(
            "$connect", CONNECT_ROLE, two_way=False, request_parameters=connect_parameters
        ),
        "$disconnect": DesiredRoute("$disconnect", ROUTER_ROLE, two_way=False),
        "$default": DesiredRoute("$default", ROUTER_ROLE, two_way=True),
    }
    models: dict[str, DesiredModel] = {}
    for key, route in router.routes.items():
        model = None
        if route.gateway_validation and route.schema is not None:
            model = DesiredModel(model_name(key), key, model_schema(key, route.schema))
            models[model.name] = model
        routes[key] = DesiredRoute(key, ROUTER_ROLE, two_way=True, model=model)

    row_roles: dict[str, str] = {}
    for row in gateway.routes.order_by("route_key"):
        key = row.route_key
        if not isinstance(key, str) or not ROUTE_KEY_PATTERN.fullmatch(key):
            raise PlanError(
                f"GatewayRoute {row.pk} has route key {key!r}: use 1 to 128 characters from "
                "A-Z a-z 0-9 _ . : / - not starting with '$' (the built-in routes always go to "
                "the router)."
            )
        role = ROUTER_ROLE
        if row.integration_url:
            parts = urlsplit(row.integration_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise PlanError(
                    f"GatewayRoute {key!r}: integration_url {row.integration_url!r} is not an "
                    "http(s) URL."
                )
            role = f"route:{key}"
            row_secret = gateway_secret() if secret is None else secret
            integrations[role] = DesiredIntegration(
                role, row.integration_url, integration_request_parameters(row_secret)
            )
        existing = routes.get(key)
        model = existing.model if existing is not None else None
        routes[key] = DesiredRoute(key, role, two_way=True, model=model)
        row_roles[key] = role

    if len(routes) > 300:
        warnings.append(
            f"{len(routes)} routes: above API Gateway's default quota of 300 routes per API."
        )
    api = {
        "Name": gateway.api_name,
        "Description": gateway.api_description,
        "RouteSelectionExpression": gateway.route_selection_expression,
        "ApiKeySelectionExpression": gateway.api_key_selection_expression,
    }
    return DesiredState(
        api=api,
        integrations=integrations,
        routes=routes,
        models=models,
        stage_name=gateway.stage_name,
        stage_description=gateway.stage_description,
        row_roles=row_roles,
        warnings=warnings,
    )
