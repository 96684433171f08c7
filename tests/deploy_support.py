"""Fixtures for the deploy, command and admin tests: the emulator, moto, a recording client.

Its fixtures live in tests/deploy_fixtures.py; this module is also the URLconf those tests
use (``urlpatterns`` below mounts a gateway view carrying ``ws_router`` at ``/ws/``, the way
``router.urls`` does, and the admin at ``/admin/``).

``apigatewayv2`` is the local gateway's control plane (``aws`` fixture): nothing is stubbed.
moto serves what the emulator does not (custom domains and API mappings, with the API created in
moto too: ``aws_moto`` fixture; Route 53; STS). For ``aws_moto`` only, moto 5.2.5's gaps are
filled here and nowhere else (:class:`RecordingClient` with ``fill_moto_gaps=True``):

* ``create_deployment`` / ``get_deployments`` are not implemented: they are stubbed; a stubbed
  deployment checks that the API and stage exist in moto, and is recorded in ``deployments``.
* ``get_models`` and ``get_route_responses`` are not implemented: they are stubbed *truthfully*:
  the wrapper remembers the ids moto returned from ``create_model`` / ``create_route_response``
  and lists them by asking moto for each one (``get_model`` / ``get_route_response`` are
  implemented), so anything deleted in moto (directly or with its route) disappears from the
  listing. The idempotency tests therefore rest on moto's state, not on a stub saying "nothing".
* moto's ``create_domain_name`` / ``get_domain_name`` echo the configuration back without the
  ``ApiGatewayDomainName`` and ``HostedZoneId`` AWS adds; the wrapper adds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from django.contrib import admin
from django.http import HttpResponse
from django.urls import path

from ws_routes.routing import Router

REGION = "eu-west-2"
MUTATING_PREFIXES = (
    "create_",
    "update_",
    "delete_",
    "put_",
    "tag_",
    "untag_",
    "import_",
    "reimport_",
    "change_",
)
_NOT_OPERATIONS = ("get_paginator", "can_paginate", "get_waiter", "close")
Predicate = Callable[[dict[str, Any]], bool]
#: Used for the API Gateway's own hosted zone in filled-in domain responses.
APIGATEWAY_ZONE_ID = "ZAPIGATEWAYTEST"


def client_error(
    operation: str, code: str = "BadRequestException", message: str = ""
) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class RecordingClient:
    """A boto3 client wrapper: records every call, injects failures, fills moto's gaps."""

    def __init__(self, client: Any, *, fill_moto_gaps: bool = False) -> None:
        self._client = client
        self._fill_moto_gaps = fill_moto_gaps
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.deployments: dict[str, list[dict[str, Any]]] = {}
        self._model_ids: dict[str, list[str]] = {}
        self._route_response_ids: dict[tuple[str, str], list[str]] = {}
        self._failures: list[tuple[str, Predicate, ClientError, list[int]]] = []

    # -- recording and failures ------------------------------------------------------------------

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    @property
    def mutating_calls(self) -> list[tuple[str, dict[str, Any]]]:
        return [call for call in self.calls if call[0].startswith(MUTATING_PREFIXES)]

    def reset(self) -> None:
        self.calls.clear()

    def fail_when(
        self,
        operation: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
        *,
        times: int = 1,
        code: str = "BadRequestException",
        message: str = "injected failure",
    ) -> None:
        """Make the next ``times`` calls of ``operation`` matching ``predicate`` raise."""
        error = client_error(operation, code, message)
        self._failures.append((operation, predicate, error, [times]))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute) or name in _NOT_OPERATIONS:
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            for operation, predicate, error, remaining in self._failures:
                if operation == name and remaining[0] > 0 and predicate(kwargs):
                    remaining[0] -= 1
                    raise error
            stub = getattr(self, f"_stub_{name}", None) if self._fill_moto_gaps else None
            result = stub(**kwargs) if stub is not None else attribute(**kwargs)
            after = getattr(self, f"_after_{name}", None)
            if after is not None:
                after(kwargs, result)
            return result

        return call

    # -- moto gaps ---------------------------------------------------------------------------

    def _stub_create_deployment(self, ApiId: str, StageName: str | None = None, **_: Any) -> dict:
        self._client.get_api(ApiId=ApiId)  # NotFoundException like AWS
        if StageName is not None:
            self._client.get_stage(ApiId=ApiId, StageName=StageName)
        deployments = self.deployments.setdefault(ApiId, [])
        deployment = {"DeploymentId": f"dep{len(deployments) + 1}", "DeploymentStatus": "DEPLOYED"}
        deployments.append({**deployment, "StageName": StageName})
        return deployment

    def _after_create_deployment(self, kwargs: dict[str, Any], result: dict[str, Any]) -> None:
        if not self._fill_moto_gaps:  # the emulator answered: remember what it deployed
            deployment = {k: v for k, v in result.items() if k != "ResponseMetadata"}
            stage = {"StageName": kwargs.get("StageName")}
            self.deployments.setdefault(kwargs["ApiId"], []).append({**deployment, **stage})

    def _stub_get_deployments(self, ApiId: str, **_: Any) -> dict:
        return {"Items": list(self.deployments.get(ApiId, []))}

    def _after_create_model(self, kwargs: dict[str, Any], result: dict[str, Any]) -> None:
        self._model_ids.setdefault(kwargs["ApiId"], []).append(result["ModelId"])

    def _stub_get_models(self, ApiId: str, **_: Any) -> dict:
        self._client.get_api(ApiId=ApiId)
        items = []
        for model_id in self._model_ids.get(ApiId, []):
            try:
                model = self._client.get_model(ApiId=ApiId, ModelId=model_id)
            except ClientError:
                continue
            items.append({k: v for k, v in model.items() if k != "ResponseMetadata"})
        return {"Items": items}

    def _after_create_route_response(self, kwargs: dict[str, Any], result: dict[str, Any]) -> None:
        key = (kwargs["ApiId"], kwargs["RouteId"])
        self._route_response_ids.setdefault(key, []).append(result["RouteResponseId"])

    def _stub_get_route_responses(self, ApiId: str, RouteId: str, **_: Any) -> dict:
        self._client.get_route(ApiId=ApiId, RouteId=RouteId)
        items = []
        for response_id in self._route_response_ids.get((ApiId, RouteId), []):
            try:
                response = self._client.get_route_response(
                    ApiId=ApiId, RouteId=RouteId, RouteResponseId=response_id
                )
            except ClientError:
                continue
            items.append({k: v for k, v in response.items() if k != "ResponseMetadata"})
        return {"Items": items}

    @staticmethod
    def _fill_domain(result: dict[str, Any]) -> None:
        for configuration in result.get("DomainNameConfigurations", []):
            digest = hashlib.sha256(result["DomainName"].encode()).hexdigest()[:10]
            configuration.setdefault(
                "ApiGatewayDomainName", f"d-{digest}.execute-api.{REGION}.amazonaws.com"
            )
            configuration.setdefault("HostedZoneId", APIGATEWAY_ZONE_ID)

    def _after_create_domain_name(self, kwargs: dict[str, Any], result: dict[str, Any]) -> None:
        if self._fill_moto_gaps:
            self._fill_domain(result)

    def _after_get_domain_name(self, kwargs: dict[str, Any], result: dict[str, Any]) -> None:
        if self._fill_moto_gaps:
            self._fill_domain(result)


# -- the URLconf the tests mount ------------------------------------------------------------------


def gateway_view(request: Any) -> HttpResponse:
    """Stands in for the generated gateway view: only its ``ws_router`` attribute matters here."""
    return HttpResponse("gateway")


def plain_view(request: Any) -> HttpResponse:
    return HttpResponse("not a gateway")


gateway_view.ws_router = Router()  # type: ignore[attr-defined]

urlpatterns = [
    path("ws/", gateway_view, name="gateway"),
    path("pages/", plain_view, name="pages"),
    path("admin/", admin.site.urls),
]


def build_router() -> Router:
    """The registry the tests sync: one plain route, one with a schema, one pushed as a model."""
    router = Router()

    def handler(request: Any, body: Any) -> Any:
        return {"ok": True}

    router.add_route("ping", handler)
    router.add_route(
        "chat.send",
        handler,
        schema={"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
    )
    router.add_route(
        "room.join",
        handler,
        schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["room"],
            "properties": {"room": {"type": "string", "maxLength": 64}},
            "additionalProperties": False,
        },
        gateway_validation=True,
    )
    return router


def mount_router(monkeypatch: Any, router: Router) -> None:
    """Make ``router`` the one mounted at /ws/ for the rest of the test."""
    monkeypatch.setattr(gateway_view, "ws_router", router)


def add_handler_route(router: Router, key: str, **options: Any) -> None:
    router.add_route(key, lambda request, body: None, **options)
