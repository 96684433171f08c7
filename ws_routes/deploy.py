"""Provisioning and route sync for an API Gateway WebSocket API, as **plan -> apply**.

The single source of truth is Django: the ``ApiGateway`` record, the ``Router`` mounted at its
``target_base_endpoint`` and the gateway's ``GatewayRoute`` rows. :func:`plan_sync` compares that
with what AWS has and returns a :class:`Plan`, a list of changes printable one a line
(``+ route chat.send``, ``~ integration router: uri ... -> ...``, ``- route old.key``);
:func:`sync_gateway` applies it and deploys the stage.

Everything is rediscovered from AWS on every run -- the API by id or name, our integrations by
their description marker, routes by key, route responses by key, models by name -- so a run that
failed half-way is finished by the next one, and a run with nothing to do makes no mutating call.
The only state kept in the database besides AWS ids is "a deployment is owed":
``ApiGateway.deployment_id`` is blanked before the first mutating call and filled by the
deployment, so a crash between the two is repaired by the next run.

Example::

    from ws_routes.deploy import plan_sync, sync_gateway

    print(plan_sync(gateway))          # what would change, nothing is applied
    result = sync_gateway(gateway)      # plan, apply, deploy
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.urls import Resolver404, get_script_prefix, resolve
from django.utils import timezone
from jsonschema import Draft4Validator, SchemaError

from .checks import SECRET_PATTERN
from .conf import ws_setting
from .contract import CONTEXT_HEADERS, SECRET_HEADER
from .models import ApiGateway, GatewayRoute
from .routing import ROUTE_KEY_PATTERN, Router
from .schemas import draft4_problems

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

#: AWS clients: fail fast on a dead endpoint, retry throttling the standard way.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30


# -- errors -------------------------------------------------------------------------------------


class DeployError(Exception):
    """A sync or provisioning step cannot be done; the message says which and why."""


class PlanError(DeployError):
    """The desired state cannot be computed (configuration problem); no AWS call was mutated."""


class PlanChangedError(DeployError):
    """The plan shown to an operator is no longer the plan (AWS or the registry changed since)."""


class AwsCallError(DeployError):
    """An AWS call failed. ``operation`` is the boto3 method, ``code`` AWS's error code."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        self.aws_message = message
        self.change: Change | None = None
        self.applied: int = 0
        super().__init__(f"{operation} failed: {code}: {message}")

    def __str__(self) -> str:
        text = f"AWS call {self.operation} failed: {self.code}: {self.aws_message}"
        if self.change is not None:
            text = f"{text} (while applying '{self.change}'; {self.applied} change(s) before it"
            text += " were applied; run the sync again to finish, it is resumable)"
        return redact_secrets(text)


def redact_secrets(text: str) -> str:
    """Never let a configured secret reach a message, a log line or the admin."""
    for secret in _configured_secrets():
        if secret:
            text = text.replace(secret, "***")
    return text


def _configured_secrets() -> list[str]:
    secrets = ws_setting("GATEWAY_SECRETS")
    if isinstance(secrets, str) or not isinstance(secrets, (list, tuple)):
        return []
    return [s for s in secrets if isinstance(s, str)]


# -- AWS clients --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _cached_client(service: str, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.client(service, region_name=region, config=config)


def apigateway_client(gateway: ApiGateway) -> Any:
    """The cached ``apigatewayv2`` client for the gateway's region (connect 5 s, read 30 s)."""
    return _cached_client("apigatewayv2", gateway.get_region())


def route53_client(gateway: ApiGateway) -> Any:
    """The cached Route 53 client, used only when a gateway has a ``hosted_zone_id``."""
    return _cached_client("route53", gateway.get_region())


def sts_client(gateway: ApiGateway) -> Any:
    """The cached STS client, used only to learn the account id for the IAM policy."""
    return _cached_client("sts", gateway.get_region())


def call_aws(client: Any, operation: str, /, **kwargs: Any) -> Any:
    """One AWS call; any AWS or transport failure becomes an :class:`AwsCallError` naming it."""
    from botocore.exceptions import BotoCoreError, ClientError  # AWS libraries load on first use

    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise AwsCallError(
            operation, str(details.get("Code", "Unknown")), str(details.get("Message", error))
        ) from error
    except BotoCoreError as error:
        raise AwsCallError(operation, type(error).__name__, str(error)) from error


def list_all(client: Any, operation: str, /, **kwargs: Any) -> list[dict[str, Any]]:
    """All items of a paginated ``get_*`` call (API Gateway pages with NextToken)."""
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(10_000):
        page = call_aws(client, operation, **kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get("Items", []))
        token = page.get("NextToken")
        if not token:
            return items
    raise AwsCallError(operation, "TooManyPages", "pagination did not end after 10,000 pages")


def is_not_found(error: AwsCallError) -> bool:
    return error.code in ("NotFoundException", "ResourceNotFoundException")


# -- what Django wants --------------------------------------------------------------------------


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
    candidates = [path]
    prefix = get_script_prefix()
    if prefix != "/" and path.startswith(prefix):
        candidates.append("/" + path[len(prefix) :])
    for candidate in candidates:
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        router = getattr(match.func, "ws_router", None)
        if isinstance(router, Router):
            return router
        raise PlanError(
            f"Gateway {gateway.api_name!r}: the URL path {path!r} is served by "
            f"{match.view_name or match.func!r}, which is not a ws_routes gateway view. Point "
            "target_base_endpoint at the path where you wrote path('...', include(router.urls))."
        )
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

    @property
    def description(self) -> str:
        return f"{INTEGRATION_MARKER}{self.role}"

    def aws_arguments(self) -> dict[str, Any]:
        return {
            "IntegrationType": "HTTP_PROXY",
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


def desired_state(gateway: ApiGateway, router: Router | None = None) -> DesiredState:
    """Compute the desired API from the gateway, its router and its ``GatewayRoute`` rows.

    Pure Django, no AWS call; raises :class:`PlanError` for anything AWS would refuse or that
    would leave the gateway unsafe (no secret, a draft-4-incompatible model, a bad row).
    Example: ``sorted(desired_state(gateway).routes)``.
    """
    secret = gateway_secret()
    if router is None:
        router = resolve_router(gateway)
    base_uri = gateway.target_base_endpoint
    if not base_uri:
        raise PlanError(f"Gateway {gateway.api_name!r}: target_base_endpoint is blank.")
    if not gateway.stage_name:
        raise PlanError(f"Gateway {gateway.api_name!r}: stage_name is blank.")
    warnings: list[str] = []
    expected_expression = f"$request.body.{ws_setting('ROUTE_SELECTION_KEY')}"
    if gateway.route_selection_expression != expected_expression:
        warnings.append(
            f"route_selection_expression is {gateway.route_selection_expression!r} but the view "
            f"dispatches on {expected_expression!r} (WS_ROUTES['ROUTE_SELECTION_KEY']); messages "
            "may reach the wrong route."
        )

    integrations = {
        ROUTER_ROLE: DesiredIntegration(
            ROUTER_ROLE, base_uri, integration_request_parameters(secret)
        ),
        CONNECT_ROLE: DesiredIntegration(
            CONNECT_ROLE, base_uri, integration_request_parameters(secret, connect=True)
        ),
    }
    routes: dict[str, DesiredRoute] = {
        "$connect": DesiredRoute(
            "$connect",
            CONNECT_ROLE,
            two_way=False,
            request_parameters=connect_route_request_parameters(),
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
            integrations[role] = DesiredIntegration(
                role, row.integration_url, integration_request_parameters(secret)
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


# -- what AWS has -------------------------------------------------------------------------------


@dataclass
class ActualState:
    """What AWS has for the gateway's API (read-only calls only)."""

    api: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    route_responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: set[str] = field(default_factory=set)
    adopted_api_id: str = ""


def _find_api(client: Any, gateway: ApiGateway) -> tuple[dict[str, Any] | None, str]:
    if gateway.api_id:
        try:
            return call_aws(client, "get_api", ApiId=gateway.api_id), ""
        except AwsCallError as error:
            if not is_not_found(error):
                raise
            raise PlanError(
                f"Gateway {gateway.api_name!r}: API {gateway.api_id} does not exist in AWS "
                f"(region {gateway.get_region() or 'default'}). If it was deleted on purpose, "
                "blank api_id in the admin and sync again to create a new API (its endpoint URL "
                "will change)."
            ) from error
    same_name = [
        api
        for api in list_all(client, "get_apis")
        if api.get("Name") == gateway.api_name and api.get("ProtocolType") == "WEBSOCKET"
    ]
    if len(same_name) > 1:
        ids = ", ".join(sorted(api["ApiId"] for api in same_name))
        raise PlanError(
            f"Gateway {gateway.api_name!r}: several WebSocket APIs have that name in AWS ({ids});"
            " set api_id on the gateway to the one to manage."
        )
    if same_name:
        return same_name[0], same_name[0]["ApiId"]
    return None, ""


def read_actual(
    client: Any, gateway: ApiGateway, desired: DesiredState, *, prune: bool = True
) -> ActualState:
    """Read what AWS has (read-only calls). Example: ``read_actual(client, gw, desired).routes``.

    Route responses are read for the routes that need one or may be pruned.
    """
    api, adopted = _find_api(client, gateway)
    if api is None:
        return ActualState()
    api_id = api["ApiId"]
    state = ActualState(api=api, adopted_api_id=adopted)
    state.integrations = list_all(client, "get_integrations", ApiId=api_id)
    state.routes = {
        route["RouteKey"]: route for route in list_all(client, "get_routes", ApiId=api_id)
    }
    for key, route in state.routes.items():
        wanted = desired.routes.get(key)
        may_reply = key not in ("$connect", "$disconnect")
        if may_reply and (wanted.two_way if wanted is not None else prune):
            state.route_responses[route["RouteId"]] = list_all(
                client, "get_route_responses", ApiId=api_id, RouteId=route["RouteId"]
            )
    state.models = {model["Name"]: model for model in list_all(client, "get_models", ApiId=api_id)}
    state.stages = {stage["StageName"] for stage in list_all(client, "get_stages", ApiId=api_id)}
    return state


# -- the plan -----------------------------------------------------------------------------------


@dataclass
class ApplyContext:
    """Ids learnt while applying (a created integration's id is needed by the routes after it)."""

    client: Any
    api_id: str = ""
    integration_ids: dict[str, str] = field(default_factory=dict)
    route_ids: dict[str, str] = field(default_factory=dict)

    def target(self, role: str) -> str:
        return f"integrations/{self.integration_ids[role]}"


@dataclass(frozen=True)
class Change:
    """One change, printable in one line: ``+ route chat.send``."""

    symbol: str  # "+" create, "~" update, "-" delete
    kind: str
    name: str
    details: tuple[str, ...] = ()
    run: Callable[[ApplyContext], None] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        text = f"{self.symbol} {self.kind} {self.name}"
        return f"{text}: {'; '.join(self.details)}" if self.details else text


@dataclass
class Plan:
    """The changes that make AWS match Django, in the order they must be applied.

    ``str(plan)`` is the printable plan; ``plan.digest`` identifies it (the admin's confirm page
    refuses to apply a plan that changed since it was shown).
    """

    gateway: ApiGateway
    changes: list[Change]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    api_id: str = ""
    integration_ids: dict[str, str] = field(default_factory=dict)
    route_ids: dict[str, str] = field(default_factory=dict)
    row_roles: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        return [str(change) for change in self.changes]

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join([self.api_id, *self.lines()]).encode()).hexdigest()

    def __str__(self) -> str:
        if not self.changes:
            return f"Gateway {self.gateway.api_name}: in sync, nothing to do."
        return "\n".join(self.lines())


def _params_details(actual: Mapping[str, str], desired: Mapping[str, str]) -> list[str]:
    """Describe request parameter differences without ever printing a secret."""
    details = []
    secret_key = f"integration.request.header.{SECRET_HEADER}"
    for key in sorted(set(actual) | set(desired)):
        old, new = actual.get(key), desired.get(key)
        if old == new:
            continue
        if key == secret_key:
            configured = [f"'{s}'" for s in _configured_secrets()]
            if old is None:
                details.append(f"{SECRET_HEADER} mapping added")
            elif old in configured[1:]:
                index = configured.index(old)
                details.append(
                    f"{SECRET_HEADER} rotated from GATEWAY_SECRETS[{index}] to GATEWAY_SECRETS[0]"
                )
            else:
                details.append(
                    f"{SECRET_HEADER} set to GATEWAY_SECRETS[0] (the gateway's value is not in "
                    "GATEWAY_SECRETS)"
                )
        elif old is None:
            details.append(f"add {key} = {new}")
        elif new is None:
            details.append(f"remove {key}")
        else:
            details.append(f"{key} {old} -> {new}")
    return details


def _integration_details(actual: Mapping[str, Any], desired: DesiredIntegration) -> list[str]:
    details = []
    wanted = desired.aws_arguments()
    for key, label in (
        ("IntegrationType", "type"),
        ("IntegrationMethod", "method"),
        ("IntegrationUri", "uri"),
        ("TimeoutInMillis", "timeout"),
    ):
        if actual.get(key) != wanted[key]:
            details.append(f"{label} {actual.get(key)} -> {wanted[key]}")
    details.extend(
        _params_details(actual.get("RequestParameters") or {}, wanted["RequestParameters"])
    )
    return details


def _route_details(
    actual: Mapping[str, Any],
    desired: DesiredRoute,
    target: str,
    target_label: str,
    model_selection: str,
) -> tuple[list[str], bool]:
    """What differs on a route, and whether the route must be recreated to fix it."""
    details = []
    recreate = False
    if actual.get("Target") != target:
        details.append(f"target {actual.get('Target') or 'none'} -> {target_label}")
    wanted_rrse = "$default" if desired.two_way else None
    if actual.get("RouteResponseSelectionExpression") != wanted_rrse:
        details.append(
            f"route response selection {actual.get('RouteResponseSelectionExpression')} -> "
            f"{wanted_rrse}"
        )
        if wanted_rrse is None:
            recreate = True
    wanted_models = {"$default": desired.model.name} if desired.model else {}
    if (actual.get("RequestModels") or {}) != wanted_models:
        if desired.model is not None:
            details.append(f"request model -> {desired.model.name}")
        else:
            details.append("request model removed")
            recreate = True
    elif desired.model is not None and actual.get("ModelSelectionExpression") != model_selection:
        details.append(f"model selection -> {model_selection}")
    actual_params = actual.get("RequestParameters") or {}
    if actual_params != dict(desired.request_parameters):
        details.append(
            "request parameters "
            f"{sorted(actual_params) or 'none'} -> {sorted(desired.request_parameters) or 'none'}"
        )
        if set(actual_params) - set(desired.request_parameters):
            recreate = True
    return details, recreate


def _route_arguments(
    ctx: ApplyContext, desired: DesiredRoute, gateway: ApiGateway
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "ApiId": ctx.api_id,
        "RouteKey": desired.key,
        "Target": ctx.target(desired.role),
    }
    if desired.two_way:
        # Without this and a "$default" route response, API Gateway drops the reply.
        arguments["RouteResponseSelectionExpression"] = "$default"
    if desired.model is not None:
        # The selection expression evaluates to the action; no model has that key, so the
        # "$default" model applies (AWS's documented fallback).
        arguments["ModelSelectionExpression"] = gateway.route_selection_expression
        arguments["RequestModels"] = {"$default": desired.model.name}
    if desired.request_parameters:
        arguments["RequestParameters"] = {
            key: dict(value) for key, value in desired.request_parameters.items()
        }
    return arguments


def plan_sync(
    gateway: ApiGateway,
    *,
    client: Any = None,
    router: Router | None = None,
    prune: bool = True,
) -> Plan:
    """Compare Django with AWS and return the :class:`Plan`; only read-only AWS calls are made.

    ``prune=True`` deletes routes that are neither in the registry nor in ``GatewayRoute`` rows
    (never ``$connect``/``$disconnect``/``$default``). Example::

        plan = plan_sync(gateway, prune=False)
        print(plan)
    """
    client = client if client is not None else apigateway_client(gateway)
    desired = desired_state(gateway, router)
    actual = read_actual(client, gateway, desired, prune=prune)
    return _diff(gateway, desired, actual, prune)


BEFORE_DEPLOYED = (
    ApiGateway.ProvisioningStatus.PENDING,
    ApiGateway.ProvisioningStatus.API_CREATED,
    ApiGateway.ProvisioningStatus.ROUTES_CREATED,
)


def _diff(gateway: ApiGateway, desired: DesiredState, actual: ActualState, prune: bool) -> Plan:
    return _Planner(gateway, desired, actual, prune).plan()


class _Planner:
    """Builds a :class:`Plan` phase by phase, in the order AWS needs the changes applied.

    API, integrations and models first (routes point at them), then routes and their route
    responses, then deletions (a route before the integration or model only it used), then the
    stage and the deployment that makes it all live.
    """

    def __init__(
        self, gateway: ApiGateway, desired: DesiredState, actual: ActualState, prune: bool
    ) -> None:
        self.gateway = gateway
        self.desired = desired
        self.actual = actual
        self.prune = prune
        self.result = Plan(
            gateway=gateway,
            changes=[],
            warnings=list(desired.warnings),
            row_roles=desired.row_roles,
        )
        self.keepers: set[str] = set()  # integration ids the desired roles keep
        self.kept_targets: set[str] = set()  # integration ids used by routes --no-prune keeps
        self.kept_models: set[str] = set()  # model names used by routes --no-prune keeps

    def add(self, change: Change) -> None:
        self.result.changes.append(change)

    def plan(self) -> Plan:
        if self.actual.adopted_api_id:
            self.result.notes.append(
                f"found API {self.actual.adopted_api_id} named {self.gateway.api_name!r} in AWS; "
                "managing it"
            )
        self.api()
        self.integrations()
        self.models()
        self.routes()
        self.deletions()
        self.stage_and_deployment()
        return self.result

    # -- phases ---------------------------------------------------------------------------------

    def api(self) -> None:
        if self.actual.api is None:
            self.add(_create_api_change(self.gateway, self.desired))
            return
        self.result.api_id = self.actual.api["ApiId"]
        details = [
            f"{key} {self.actual.api.get(key)!r} -> {value!r}"
            for key, value in self.desired.api.items()
            if (self.actual.api.get(key) or "") != value
        ]
        if details:
            self.add(_update_api_change(self.gateway, self.desired, details))

    def integrations(self) -> None:
        references: dict[str, int] = {}
        for route in self.actual.routes.values():
            integration_id = _target_id(route)
            references[integration_id] = references.get(integration_id, 0) + 1
        for role, wanted in self.desired.integrations.items():
            candidates = [
                i for i in self.actual.integrations if i.get("Description") == wanted.description
            ]
            if not candidates:
                self.add(_create_integration_change(wanted))
                continue
            # Several with our marker (two syncs raced): keep the most used, delete the others.
            keeper = min(
                candidates,
                key=lambda i: (-references.get(i["IntegrationId"], 0), i["IntegrationId"]),
            )
            self.keepers.add(keeper["IntegrationId"])
            self.result.integration_ids[role] = keeper["IntegrationId"]
            details = _integration_details(keeper, wanted)
            if details:
                self.add(_update_integration_change(wanted, details))

    def models(self) -> None:
        for name, wanted in self.desired.models.items():
            existing = self.actual.models.get(name)
            if existing is None:
                self.add(_create_model_change(wanted))
            elif _parse_json(existing.get("Schema")) != wanted.document:
                self.add(_update_model_change(wanted, existing["ModelId"]))

    def routes(self) -> None:
        needs_route_response: list[str] = []
        for key, wanted in self.desired.routes.items():
            existing = self.actual.routes.get(key)
            if existing is None:
                self.add(_create_route_change(self.gateway, wanted))
                if wanted.two_way:
                    needs_route_response.append(key)
                continue
            self.result.route_ids[key] = existing["RouteId"]
            keeper_id = self.result.integration_ids.get(wanted.role)
            details, recreate = _route_details(
                existing,
                wanted,
                target=f"integrations/{keeper_id}" if keeper_id else "",
                target_label=f"{wanted.role} ({keeper_id})" if keeper_id else wanted.role,
                model_selection=self.gateway.route_selection_expression,
            )
            if recreate:
                # update_route cannot unset some attributes; a route only goes live with the
                # deployment at the end, so delete + create is safe.
                responses = self.actual.route_responses.get(existing["RouteId"], [])
                recreated = ("recreated to " + "; ".join(details),)
                self.add(_delete_route_change(key, existing["RouteId"], responses, recreated))
                # What we do not manage (an authorizer set in the console) survives the recreate.
                kept = {k: existing[k] for k in _UNMANAGED_ROUTE_FIELDS if existing.get(k)}
                self.add(_create_route_change(self.gateway, wanted, ("recreated",), kept))
                if wanted.two_way:
                    needs_route_response.append(key)
                continue
            if details:
                self.add(_update_route_change(self.gateway, wanted, details))
            responses = self.actual.route_responses.get(existing["RouteId"], [])
            if wanted.two_way and not any(
                r.get("RouteResponseKey") == "$default" for r in responses
            ):
                needs_route_response.append(key)
        for key in needs_route_response:
            self.add(_create_route_response_change(key))

    def deletions(self) -> None:
        for key, existing in sorted(self.actual.routes.items()):
            if key in self.desired.routes or key in BUILTIN_ROUTES:  # built-ins: always desired
                continue
            if self.prune:
                responses = self.actual.route_responses.get(existing["RouteId"], [])
                self.add(_delete_route_change(key, existing["RouteId"], responses))
            else:
                self.result.notes.append(
                    f"route {key} is not in the registry; kept (--prune deletes it)"
                )
                self.kept_targets.add(_target_id(existing))
                self.kept_models.update((existing.get("RequestModels") or {}).values())
        for integration in sorted(self.actual.integrations, key=lambda i: i["IntegrationId"]):
            integration_id = integration["IntegrationId"]
            if integration_id in self.keepers or integration_id in self.kept_targets:
                continue
            description = integration.get("Description") or ""
            if not description.startswith(INTEGRATION_MARKER) and not self.prune:
                continue  # not ours: only --prune removes unused foreign integrations
            label = description.removeprefix(INTEGRATION_MARKER) or integration.get(
                "IntegrationUri", "?"
            )
            self.add(_delete_integration_change(integration_id, label))
        for name, existing in sorted(self.actual.models.items()):
            if name in self.desired.models or name in self.kept_models:
                continue
            if not name.startswith(MODEL_PREFIX) and not self.prune:
                continue
            self.add(_delete_model_change(name, existing["ModelId"]))

    def stage_and_deployment(self) -> None:
        if self.desired.stage_name not in self.actual.stages:
            self.add(_create_stage_change(self.desired))
        if self.result.changes:
            self.add(_create_deployment_change(self.gateway, self.desired.stage_name))
        elif not self.gateway.deployment_id:
            self.add(
                _create_deployment_change(
                    self.gateway,
                    self.desired.stage_name,
                    ("the last sync did not finish its deployment",),
                )
            )


def _target_id(route: Mapping[str, Any]) -> str:
    return (route.get("Target") or "").removeprefix("integrations/")


# -- the changes: each knows how to apply itself ------------------------------------------------


def _create_api_change(gateway: ApiGateway, desired: DesiredState) -> Change:
    def create_api(ctx: ApplyContext) -> None:
        arguments: dict[str, Any] = {"ProtocolType": "WEBSOCKET", **desired.api}
        if gateway.tags:
            arguments["Tags"] = {str(k): str(v) for k, v in gateway.tags.items()}
        created = call_aws(ctx.client, "create_api", **arguments)
        ctx.api_id = created["ApiId"]
        # Saved at once: a failure later in this run must not lose the new API.
        save_fields(
            gateway,
            api_id=created["ApiId"],
            api_endpoint=created.get("ApiEndpoint", ""),
            api_created=True,
            provisioning_status=ApiGateway.ProvisioningStatus.API_CREATED,
        )

    return Change("+", "api", gateway.api_name, run=create_api)


def _update_api_change(gateway: ApiGateway, desired: DesiredState, details: list[str]) -> Change:
    def update_api(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "update_api", ApiId=ctx.api_id, **desired.api)

    return Change("~", "api", gateway.api_name, tuple(details), run=update_api)


def _create_integration_change(wanted: DesiredIntegration) -> Change:
    def create_integration(ctx: ApplyContext) -> None:
        created = call_aws(
            ctx.client, "create_integration", ApiId=ctx.api_id, **wanted.aws_arguments()
        )
        ctx.integration_ids[wanted.role] = created["IntegrationId"]

    return Change("+", "integration", wanted.role, (wanted.uri,), run=create_integration)


def _update_integration_change(wanted: DesiredIntegration, details: list[str]) -> Change:
    def update_integration(ctx: ApplyContext) -> None:
        call_aws(
            ctx.client,
            "update_integration",
            ApiId=ctx.api_id,
            IntegrationId=ctx.integration_ids[wanted.role],
            **wanted.aws_arguments(),
        )

    return Change("~", "integration", wanted.role, tuple(details), run=update_integration)


def _delete_integration_change(integration_id: str, label: str) -> Change:
    def delete_integration(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "delete_integration", ApiId=ctx.api_id, IntegrationId=integration_id)

    return Change("-", "integration", f"{label} ({integration_id})", run=delete_integration)


def _create_model_change(wanted: DesiredModel) -> Change:
    def create_model(ctx: ApplyContext) -> None:
        call_aws(
            ctx.client,
            "create_model",
            ApiId=ctx.api_id,
            Name=wanted.name,
            ContentType="application/json",
            Description=f"ws_routes: body of route {wanted.route_key}",
            Schema=wanted.schema_text,
        )

    return Change("+", "model", wanted.name, (f"route {wanted.route_key}",), run=create_model)


def _update_model_change(wanted: DesiredModel, model_id: str) -> Change:
    def update_model(ctx: ApplyContext) -> None:
        call_aws(
            ctx.client,
            "update_model",
            ApiId=ctx.api_id,
            ModelId=model_id,
            Schema=wanted.schema_text,
        )

    details = (f"schema of route {wanted.route_key}",)
    return Change("~", "model", wanted.name, details, run=update_model)


def _delete_model_change(name: str, model_id: str) -> Change:
    def delete_model(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "delete_model", ApiId=ctx.api_id, ModelId=model_id)

    return Change("-", "model", name, run=delete_model)


#: Route attributes the sync leaves alone (and carries over when it must recreate a route).
_UNMANAGED_ROUTE_FIELDS = (
    "AuthorizationType",
    "AuthorizerId",
    "AuthorizationScopes",
    "ApiKeyRequired",
)


def _create_route_change(
    gateway: ApiGateway,
    wanted: DesiredRoute,
    details: tuple[str, ...] = (),
    kept: Mapping[str, Any] | None = None,
) -> Change:
    def create_route(ctx: ApplyContext) -> None:
        arguments = {**(kept or {}), **_route_arguments(ctx, wanted, gateway)}
        created = call_aws(ctx.client, "create_route", **arguments)
        ctx.route_ids[wanted.key] = created["RouteId"]

    return Change("+", "route", wanted.key, details, run=create_route)


def _update_route_change(gateway: ApiGateway, wanted: DesiredRoute, details: list[str]) -> Change:
    def update_route(ctx: ApplyContext) -> None:
        arguments = _route_arguments(ctx, wanted, gateway)
        arguments["RouteId"] = ctx.route_ids[wanted.key]
        call_aws(ctx.client, "update_route", **arguments)

    return Change("~", "route", wanted.key, tuple(details), run=update_route)


def _delete_route_change(
    key: str,
    route_id: str,
    responses: Iterable[Mapping[str, Any]],
    recreated: tuple[str, ...] = (),
) -> Change:
    """``- route key``; or, with ``recreated``, the ``~`` first half of a delete + create."""
    response_ids = [r["RouteResponseId"] for r in responses]

    def delete_route(ctx: ApplyContext) -> None:
        for response_id in response_ids:
            try:
                call_aws(
                    ctx.client,
                    "delete_route_response",
                    ApiId=ctx.api_id,
                    RouteId=route_id,
                    RouteResponseId=response_id,
                )
            except AwsCallError as error:
                if not is_not_found(error):
                    raise
        call_aws(ctx.client, "delete_route", ApiId=ctx.api_id, RouteId=route_id)
        ctx.route_ids.pop(key, None)

    return Change("~" if recreated else "-", "route", key, recreated, run=delete_route)


def _create_route_response_change(key: str) -> Change:
    def create_route_response(ctx: ApplyContext) -> None:
        # With the route's RouteResponseSelectionExpression "$default", this is what makes
        # API Gateway send the integration's answer back to the client.
        call_aws(
            ctx.client,
            "create_route_response",
            ApiId=ctx.api_id,
            RouteId=ctx.route_ids[key],
            RouteResponseKey="$default",
        )

    return Change("+", "route response", f"{key} $default", run=create_route_response)


def _create_stage_change(desired: DesiredState) -> Change:
    def create_stage(ctx: ApplyContext) -> None:
        arguments = {"ApiId": ctx.api_id, "StageName": desired.stage_name}
        if desired.stage_description:
            arguments["Description"] = desired.stage_description
        call_aws(ctx.client, "create_stage", **arguments)

    return Change("+", "stage", desired.stage_name, run=create_stage)


def _create_deployment_change(
    gateway: ApiGateway, stage_name: str, details: tuple[str, ...] = ()
) -> Change:
    def create_deployment(ctx: ApplyContext) -> None:
        created = call_aws(
            ctx.client,
            "create_deployment",
            ApiId=ctx.api_id,
            StageName=stage_name,
            Description=f"ws_routes sync {timezone.now():%Y-%m-%dT%H:%M:%SZ}",
        )
        status = gateway.provisioning_status
        if status in BEFORE_DEPLOYED:
            status = ApiGateway.ProvisioningStatus.DEPLOYED
        save_fields(
            gateway, deployment_id=created.get("DeploymentId", ""), provisioning_status=status
        )
        gateway.routes.update(deployed=True)

    return Change("+", "deployment", f"stage {stage_name}", details, run=create_deployment)


def _parse_json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def save_fields(gateway: ApiGateway, **fields: Any) -> None:
    """Write only these fields (other fields may be edited in the admin meanwhile)."""
    for name, value in fields.items():
        setattr(gateway, name, value)
    fields["updated_on"] = timezone.now()
    ApiGateway.objects.filter(pk=gateway.pk).update(**fields)


# -- apply ----------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What a sync did: the plan, how many of its changes were applied, the deployment id."""

    plan: Plan
    applied: int = 0
    dry_run: bool = False

    @property
    def deployment_id(self) -> str:
        return self.plan.gateway.deployment_id


def apply_plan(plan: Plan, *, client: Any = None) -> int:
    """Apply ``plan`` in order; returns the number of changes applied.

    On failure raises :class:`AwsCallError` naming the AWS call, the change and how far it got;
    everything applied so far stays (the next run plans only what is left). Prefer
    :func:`sync_gateway`, which also locks the gateway row. Example::

        plan = plan_sync(gateway)
        if not plan.is_empty:
            apply_plan(plan)
    """
    gateway = plan.gateway
    client = client if client is not None else apigateway_client(gateway)
    ctx = ApplyContext(
        client=client,
        api_id=plan.api_id,
        integration_ids=dict(plan.integration_ids),
        route_ids=dict(plan.route_ids),
    )
    if plan.api_id and gateway.api_id != plan.api_id:
        save_fields(gateway, api_id=plan.api_id, api_created=True)
    if plan.is_empty:
        return 0
    if gateway.deployment_id and any(c.kind != "deployment" for c in plan.changes):
        # A deployment is owed from here until create_deployment succeeds.
        save_fields(gateway, deployment_id="")
    applied = 0
    for change in plan.changes:
        try:
            change.run(ctx)  # type: ignore[misc]
        except AwsCallError as error:
            error.change = change
            error.applied = applied
            _record_rows(plan, ctx)
            raise
        applied += 1
        if (
            change.kind == "route"
            and gateway.provisioning_status == ApiGateway.ProvisioningStatus.API_CREATED
        ):
            save_fields(gateway, provisioning_status=ApiGateway.ProvisioningStatus.ROUTES_CREATED)
    _record_rows(plan, ctx)
    return applied


def _record_rows(plan: Plan, ctx: ApplyContext) -> None:
    """Remember route and integration ids on the GatewayRoute rows (informational)."""
    gateway = plan.gateway
    if (
        ctx.integration_ids.get(ROUTER_ROLE)
        and gateway.integration_id != ctx.integration_ids[ROUTER_ROLE]
    ):
        save_fields(gateway, integration_id=ctx.integration_ids[ROUTER_ROLE])
    for row in gateway.routes.all():
        role = plan.row_roles.get(row.route_key)
        route_id = ctx.route_ids.get(row.route_key, "")
        integration_id = ctx.integration_ids.get(role, "") if role else ""
        if (row.route_id, row.integration_id) != (route_id, integration_id):
            GatewayRoute.objects.filter(pk=row.pk).update(
                route_id=route_id, integration_id=integration_id, updated_on=timezone.now()
            )


def sync_gateway(
    gateway: ApiGateway,
    *,
    client: Any = None,
    router: Router | None = None,
    prune: bool = True,
    dry_run: bool = False,
    expected_digest: str | None = None,
) -> SyncResult:
    """Plan, then (unless ``dry_run``) apply and deploy; the one entry point of every sync.

    The gateway row is locked (``select_for_update``) for the duration, so two syncs of one
    gateway run one after the other. ``expected_digest`` (from a plan shown to an operator)
    refuses to apply a plan that changed since. Example::

        result = sync_gateway(gateway, prune=False)
        print(result.plan, result.applied)
    """
    error: DeployError | None = None
    result: SyncResult | None = None
    with transaction.atomic():
        try:
            locked = ApiGateway.objects.select_for_update().get(pk=gateway.pk)
        except ApiGateway.DoesNotExist:
            raise DeployError(f"Gateway {gateway.api_name!r} no longer exists.") from None
        try:
            result = _sync_locked(locked, client, router, prune, dry_run, expected_digest)
        except DeployError as exc:
            # Recorded, and committed with the progress made (ids of what was created).
            if not dry_run and not isinstance(exc, PlanChangedError):
                save_fields(locked, last_error=redact_secrets(str(exc)))
            error = exc
    gateway.refresh_from_db(fields=AWS_STATE_FIELDS)
    if error is not None:
        raise error
    assert result is not None
    return result


#: The fields provisioning writes (refreshed on the caller's instance after a sync).
AWS_STATE_FIELDS = (
    "api_id",
    "api_endpoint",
    "integration_id",
    "deployment_id",
    "api_created",
    "provisioning_status",
    "last_error",
    "api_gateway_domain_name",
    "api_mapping_id",
    "custom_domain_created",
    "updated_on",
)


def _sync_locked(
    gateway: ApiGateway,
    client: Any,
    router: Router | None,
    prune: bool,
    dry_run: bool,
    expected_digest: str | None,
) -> SyncResult:
    plan = plan_sync(gateway, client=client, router=router, prune=prune)
    if expected_digest is not None and plan.digest != expected_digest:
        raise PlanChangedError(
            f"The plan for {gateway.api_name!r} changed since it was shown; review it again."
        )
    if dry_run:
        return SyncResult(plan, dry_run=True)
    applied = apply_plan(plan, client=client)
    if gateway.last_error:
        save_fields(gateway, last_error="")
    return SyncResult(plan, applied=applied)


def find_gateway(reference: str | int) -> ApiGateway:
    """The gateway whose ``api_name`` or pk is ``reference`` (``--gateway NAME|PK``, ``--pk N``).

    An int is a pk only; a string is a name first, then a pk if it is all digits.
    Example: ``find_gateway("chat")``, ``find_gateway(1)``.
    """
    text = str(reference).strip()
    gateway = (
        None if isinstance(reference, int) else ApiGateway.objects.filter(api_name=text).first()
    )
    if gateway is None and text.isdigit():
        gateway = ApiGateway.objects.filter(pk=int(text)).first()
    if gateway is None:
        known = ", ".join(f"{g.pk}:{g.api_name}" for g in ApiGateway.objects.order_by("pk")[:20])
        raise DeployError(f"No ApiGateway with name or pk {text!r} (known: {known or 'none'}).")
    return gateway


def sync_report(result: SyncResult) -> list[str]:
    """The lines a command or the admin shows for a sync: plan, warnings, notes, outcome.

    Example: ``print("\n".join(sync_report(sync_gateway(gateway))))``.
    """
    plan = result.plan
    lines = plan.lines()
    lines += [f"! {warning}" for warning in plan.warnings]
    lines += [f"# {note}" for note in plan.notes]
    if result.dry_run:
        lines.append(f"Dry run: {len(plan.changes)} change(s) planned, nothing applied.")
    elif plan.is_empty:
        lines.append(f"Gateway {plan.gateway.api_name}: in sync, nothing to do.")
    else:
        lines.append(
            f"Gateway {plan.gateway.api_name}: applied {result.applied} change(s); deployment "
            f"{result.deployment_id or '(none)'} on stage {plan.gateway.stage_name}."
        )
    return lines
