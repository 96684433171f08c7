"""The mutating AWS calls of a sync: one :class:`~.change.Change` constructor per kind of change.

Each returned change carries the function that applies it (``change.run(ctx)``); the planner
decides which are needed and in which order. Example: ``str(create_stage_change(desired))``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from ..conf import ws_setting
from ..models import ApiGateway
from . import pace
from .aws import call_aws, is_not_found
from .change import ApplyContext, Change
from .desired import DesiredIntegration, DesiredModel, DesiredRoute, DesiredState
from .errors import AwsCallError
from .records import BEFORE_DEPLOYED, aws_tags, save_fields

logger = logging.getLogger("ws_routes.deploy")


def route_arguments(
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


def create_api_change(gateway: ApiGateway, desired: DesiredState) -> Change:
    def create_api(ctx: ApplyContext) -> None:
        arguments: dict[str, Any] = {"ProtocolType": "WEBSOCKET", **desired.api}
        if gateway.tags:
            arguments["Tags"] = aws_tags(gateway)
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


def update_api_change(gateway: ApiGateway, desired: DesiredState, details: list[str]) -> Change:
    def update_api(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "update_api", ApiId=ctx.api_id, **desired.api)

    return Change("~", "api", gateway.api_name, tuple(details), run=update_api)


def create_integration_change(wanted: DesiredIntegration) -> Change:
    def create_integration(ctx: ApplyContext) -> None:
        created = call_aws(
            ctx.client, "create_integration", ApiId=ctx.api_id, **wanted.aws_arguments()
        )
        ctx.integration_ids[wanted.role] = created["IntegrationId"]

    return Change("+", "integration", wanted.role, (wanted.uri,), run=create_integration)


def update_integration_change(wanted: DesiredIntegration, details: list[str]) -> Change:
    def update_integration(ctx: ApplyContext) -> None:
        call_aws(
            ctx.client,
            "update_integration",
            ApiId=ctx.api_id,
            IntegrationId=ctx.integration_ids[wanted.role],
            **wanted.aws_arguments(),
        )

    return Change("~", "integration", wanted.role, tuple(details), run=update_integration)


def delete_integration_change(integration_id: str, label: str) -> Change:
    def delete_integration(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "delete_integration", ApiId=ctx.api_id, IntegrationId=integration_id)

    return Change("-", "integration", f"{label} ({integration_id})", run=delete_integration)


def create_model_change(wanted: DesiredModel) -> Change:
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


def update_model_change(wanted: DesiredModel, model_id: str) -> Change:
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


def delete_model_change(name: str, model_id: str) -> Change:
    def delete_model(ctx: ApplyContext) -> None:
        call_aws(ctx.client, "delete_model", ApiId=ctx.api_id, ModelId=model_id)

    return Change("-", "model", name, run=delete_model)


def create_route_change(
    gateway: ApiGateway,
    wanted: DesiredRoute,
    details: tuple[str, ...] = (),
    kept: Mapping[str, Any] | None = None,
) -> Change:
    def create_route(ctx: ApplyContext) -> None:
        arguments = {**(kept or {}), **route_arguments(ctx, wanted, gateway)}
        created = call_aws(ctx.client, "create_route", **arguments)
        ctx.route_ids[wanted.key] = created["RouteId"]

    return Change("+", "route", wanted.key, details, run=create_route)


def update_route_change(gateway: ApiGateway, wanted: DesiredRoute, details: list[str]) -> Change:
    def update_route(ctx: ApplyContext) -> None:
        arguments = route_arguments(ctx, wanted, gateway)
        arguments["RouteId"] = ctx.route_ids[wanted.key]
        call_aws(ctx.client, "update_route", **arguments)

    return Change("~", "route", wanted.key, tuple(details), run=update_route)


def delete_route_change(
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


def create_route_response_change(key: str) -> Change:
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


def create_stage_change(desired: DesiredState) -> Change:
    def create_stage(ctx: ApplyContext) -> None:
        arguments = {"ApiId": ctx.api_id, "StageName": desired.stage_name}
        if desired.stage_description:
            arguments["Description"] = desired.stage_description
        call_aws(ctx.client, "create_stage", **arguments)

    return Change("+", "stage", desired.stage_name, run=create_stage)


def update_stage_change(desired: DesiredState, details: tuple[str, ...]) -> Change:
    def update_stage(ctx: ApplyContext) -> None:
        # UpdateStage's Description (botocore apigatewayv2 UpdateStageRequest.Description).
        call_aws(
            ctx.client,
            "update_stage",
            ApiId=ctx.api_id,
            StageName=desired.stage_name,
            Description=desired.stage_description,
        )

    return Change("~", "stage", desired.stage_name, details, run=update_stage)


def _settled_deployment(ctx: ApplyContext, created: dict[str, Any]) -> dict[str, Any]:
    """The deployment once it is no longer PENDING (polled with GetDeployment, paced, for up to
    ``DEPLOY_DEPLOYMENT_WAIT_SECONDS``); raises naming AWS's message when it FAILED.

    botocore apigatewayv2 ``CreateDeploymentResponse.DeploymentStatus``: PENDING | FAILED |
    DEPLOYED, with ``DeploymentStatusMessage``.
    """
    deployment = created
    clock = pace.pacer.clock
    deadline = clock() + float(ws_setting("DEPLOY_DEPLOYMENT_WAIT_SECONDS") or 0)
    while deployment.get("DeploymentStatus") == "PENDING" and clock() < deadline:
        pace.pacer.sleep(1.0)
        deployment = call_aws(
            ctx.client, "get_deployment", ApiId=ctx.api_id, DeploymentId=created["DeploymentId"]
        )
    if deployment.get("DeploymentStatus") == "FAILED":
        raise AwsCallError(
            "create_deployment",
            "DeploymentFailed",
            f"deployment {created.get('DeploymentId')} FAILED: "
            f"{deployment.get('DeploymentStatusMessage') or 'AWS gave no message'}",
        )
    return deployment


def create_deployment_change(
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
        deployment = _settled_deployment(ctx, created)
        if deployment.get("DeploymentStatus") == "PENDING":
            logger.warning(
                "deployment %s of %s still PENDING after %ss; recorded as deployed",
                created.get("DeploymentId"),
                gateway.api_name,
                ws_setting("DEPLOY_DEPLOYMENT_WAIT_SECONDS"),
            )
        status = gateway.provisioning_status
        if status in BEFORE_DEPLOYED:
            status = ApiGateway.ProvisioningStatus.DEPLOYED
        save_fields(
            gateway, deployment_id=created.get("DeploymentId", ""), provisioning_status=status
        )
        gateway.routes.update(deployed=True)

    return Change("+", "deployment", f"stage {stage_name}", details, run=create_deployment)
