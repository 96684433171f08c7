"""Compare Django with AWS: :func:`plan_sync` returns a :class:`Plan`, the ordered changes that
make AWS match Django (``+ route chat.send``, ``~ integration router: uri ... -> ...``).

Example::

    plan = plan_sync(gateway, prune=False)
    print(plan)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..contract import SECRET_HEADER
from ..models import ApiGateway
from ..routing import Router
from . import aws, lambda_permission, mutations
from .actual import ActualState, read_actual
from .change import Change
from .desired import (
    BUILTIN_ROUTES,
    CONNECT_ROLE,
    INTEGRATION_MARKER,
    MODEL_PREFIX,
    DesiredIntegration,
    DesiredRoute,
    DesiredState,
    desired_state,
)
from .errors import configured_secrets


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


_HEADER_PREFIXES = ("integration.request.header.", "route.request.header.")


def _case_folded(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters with header names lower-cased: HTTP header names are
    case-insensitive, and AWS may give them back in another case than they were sent."""
    folded: dict[str, Any] = {}
    for key, value in params.items():
        for prefix in _HEADER_PREFIXES:
            if key.startswith(prefix):
                key = prefix + key[len(prefix) :].lower()
                break
        folded[key] = value
    return folded


def _params_details(actual: Mapping[str, str], desired: Mapping[str, str]) -> list[str]:
    """Describe request parameter differences without ever printing a secret.

    Header names compare case-insensitively (``_case_folded``); names are printed as desired.
    """
    details = []
    # folded name -> the name to print (desired's spelling, else AWS's).
    names = {**_case_folded({k: k for k in actual}), **_case_folded({k: k for k in desired})}
    actual, desired = _case_folded(actual), _case_folded(desired)
    secret_key = f"integration.request.header.{SECRET_HEADER.lower()}"
    for folded in sorted(set(actual) | set(desired), key=lambda k: names[k]):
        key = names[folded]
        old, new = actual.get(folded), desired.get(folded)
        if old == new:
            continue
        if folded == secret_key:
            configured = [f"'{s}'" for s in configured_secrets()]
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
    actual_params = _case_folded(actual.get("RequestParameters") or {})
    if actual_params != _case_folded(desired.request_parameters):
        details.append(
            "request parameters "
            f"{sorted(actual_params) or 'none'} -> {sorted(desired.request_parameters) or 'none'}"
        )
        if set(actual_params) - set(_case_folded(desired.request_parameters)):
            recreate = True
    return details, recreate


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
    client = client if client is not None else aws.apigateway_client(gateway)
    desired = desired_state(gateway, router)
    actual = read_actual(client, gateway, desired, prune=prune)
    plan = _Planner(gateway, desired, actual, prune).plan()
    if gateway.target_lambda_arn:  # API Gateway may invoke the function (docs/lambda.md)
        lambda_permission.add_to_plan(plan, aws.lambda_client(gateway), prune=prune)
    return plan


#: Route attributes the sync leaves alone (and carries over when it must recreate a route).
_UNMANAGED_ROUTE_FIELDS = (
    "AuthorizationType",
    "AuthorizerId",
    "AuthorizationScopes",
    "ApiKeyRequired",
)


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
        # Integrations whose full mappings wait until the routes declared what they map.
        self.deferred: list[tuple[DesiredIntegration, list[str]]] = []

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
            self.add(mutations.create_api_change(self.gateway, self.desired))
            return
        self.result.api_id = self.actual.api["ApiId"]
        details = [
            f"{key} {self.actual.api.get(key)!r} -> {value!r}"
            for key, value in self.desired.api.items()
            if (self.actual.api.get(key) or "") != value
        ]
        if details:
            self.add(mutations.update_api_change(self.gateway, self.desired, details))

    def integrations(self) -> None:
        references: dict[str, int] = {}
        for route in self.actual.routes.values():
            integration_id = _target_id(route)
            references[integration_id] = references.get(integration_id, 0) + 1
        for role, full in self.desired.integrations.items():
            wanted = self._declared_only(full)
            if wanted != full:
                added = sorted(set(full.request_parameters) - set(wanted.request_parameters))
                details = [f"add {key} = {full.request_parameters[key]}" for key in added]
                self.deferred.append((full, [*details, "after $connect declares it"]))
            candidates = [
                i for i in self.actual.integrations if i.get("Description") == wanted.description
            ]
            if not candidates:
                self.add(mutations.create_integration_change(wanted))
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
                self.add(mutations.update_integration_change(wanted, details))

    def _declared_only(self, wanted: DesiredIntegration) -> DesiredIntegration:
        """``wanted`` less the mappings of ``route.request.*`` parameters the ``$connect`` route
        does not declare yet. AWS's order: declare the route's request parameter, then map it
        in the integration (https://docs.aws.amazon.com/apigateway/latest/developerguide/
        websocket-api-data-mapping.html); so on create and update the connect integration
        maps them in a second step, after the route change (``self.deferred``).
        """
        if wanted.role != CONNECT_ROLE:
            return wanted
        route = self.actual.routes.get("$connect") or {}
        declared = set(route.get("RequestParameters") or {}) & set(
            self.desired.routes["$connect"].request_parameters
        )
        kept = {
            key: source
            for key, source in wanted.request_parameters.items()
            if not source.startswith("route.request.") or source in declared
        }
        if kept == dict(wanted.request_parameters):
            return wanted
        return dataclasses.replace(wanted, request_parameters=kept)

    def models(self) -> None:
        for name, wanted in self.desired.models.items():
            existing = self.actual.models.get(name)
            if existing is None:
                self.add(mutations.create_model_change(wanted))
            elif _parse_json(existing.get("Schema")) != wanted.document:
                self.add(mutations.update_model_change(wanted, existing["ModelId"]))

    def routes(self) -> None:
        needs_route_response: list[str] = []
        for key, wanted in self.desired.routes.items():
            existing = self.actual.routes.get(key)
            if existing is None:
                self.add(mutations.create_route_change(self.gateway, wanted))
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
                self.add(
                    mutations.delete_route_change(key, existing["RouteId"], responses, recreated)
                )
                # What we do not manage (an authorizer set in the console) survives the recreate.
                kept = {k: existing[k] for k in _UNMANAGED_ROUTE_FIELDS if existing.get(k)}
                self.add(mutations.create_route_change(self.gateway, wanted, ("recreated",), kept))
                if wanted.two_way:
                    needs_route_response.append(key)
                continue
            if details:
                self.add(mutations.update_route_change(self.gateway, wanted, details))
            responses = self.actual.route_responses.get(existing["RouteId"], [])
            if wanted.two_way and not any(
                r.get("RouteResponseKey") == "$default" for r in responses
            ):
                needs_route_response.append(key)
        for full, details in self.deferred:  # routes now declare what these map
            self.add(mutations.update_integration_change(full, details))
        for key in needs_route_response:
            self.add(mutations.create_route_response_change(key))

    def deletions(self) -> None:
        for key, existing in sorted(self.actual.routes.items()):
            if key in self.desired.routes or key in BUILTIN_ROUTES:  # built-ins: always desired
                continue
            if self.prune:
                responses = self.actual.route_responses.get(existing["RouteId"], [])
                self.add(mutations.delete_route_change(key, existing["RouteId"], responses))
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
            self.add(mutations.delete_integration_change(integration_id, label))
        for name, existing in sorted(self.actual.models.items()):
            if name in self.desired.models or name in self.kept_models:
                continue
            if not name.startswith(MODEL_PREFIX) and not self.prune:
                continue
            self.add(mutations.delete_model_change(name, existing["ModelId"]))

    def stage_and_deployment(self) -> None:
        stage = self.actual.stages.get(self.desired.stage_name)
        if stage is None:
            self.add(mutations.create_stage_change(self.desired))
        elif (stage.get("Description") or "") != self.desired.stage_description:
            old = stage.get("Description") or ""
            details = (f"description {old!r} -> {self.desired.stage_description!r}",)
            self.add(mutations.update_stage_change(self.desired, details))
        if self.result.changes:
            self.add(mutations.create_deployment_change(self.gateway, self.desired.stage_name))
        elif not self.gateway.deployment_id:
            self.add(
                mutations.create_deployment_change(
                    self.gateway,
                    self.desired.stage_name,
                    ("the last sync did not finish its deployment",),
                )
            )


def _target_id(route: Mapping[str, Any]) -> str:
    return (route.get("Target") or "").removeprefix("integrations/")


def _parse_json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
