"""ws_routes.deploy against the local gateway's control plane: plan -> apply, idempotency,
repair, prune, rotation.

``apigatewayv2`` is the emulator (the ``aws`` fixture): deployments, models and route responses
are real, nothing is stubbed. What it deploys is run end to end in
tests/e2e/test_deployed_config.py.
"""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from django.db import connection

from tests.deploy_support import REGION, add_handler_route, build_router, mount_router
from ws_routes import deploy
from ws_routes.deploy import (
    AwsCallError,
    PlanError,
    draft4_problems,
    model_name,
    plan_sync,
    sync_gateway,
)
from ws_routes.errors import RouteConfigurationError
from ws_routes.models import ApiGateway, GatewayRoute
from ws_routes.routing import Router

pytest_plugins = ["tests.deploy_fixtures"]

SECRET = "test-gateway-secret-0123456789-abcdefghijklmnop"  # tests/settings.py
NEW_SECRET = "rotated-secret-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"

EXPECTED_HEADERS = {
    "integration.request.header.X-Ws-Secret": f"'{SECRET}'",
    "integration.request.header.X-Ws-Connection-Id": "context.connectionId",
    "integration.request.header.X-Ws-Event": "context.eventType",
    "integration.request.header.X-Ws-Route": "context.routeKey",
    "integration.request.header.X-Ws-Source-Ip": "context.identity.sourceIp",
    "integration.request.header.X-Ws-Request-Id": "context.requestId",
    "integration.request.header.X-Ws-Api-Id": "context.apiId",
    "integration.request.header.X-Ws-Stage": "context.stage",
}
MESSAGE_ROUTES = ("$default", "ping", "chat.send", "room.join")


def aws_routes(aws, api_id):
    return {route["RouteKey"]: route for route in aws.get_routes(ApiId=api_id)["Items"]}


def aws_integrations(aws, api_id):
    return {i["IntegrationId"]: i for i in aws.get_integrations(ApiId=api_id)["Items"]}


def synced(gateway, aws, **options):
    """Sync, then prove a second run plans nothing and makes no mutating call."""
    result = sync_gateway(gateway, client=aws, **options)
    aws.reset()
    again = sync_gateway(gateway, client=aws, **options)
    assert again.plan.lines() == [], again.plan.lines()
    assert aws.mutating_calls == []
    gateway.refresh_from_db()
    return result


# -- first provisioning -----------------------------------------------------------------------


def test_first_sync_creates_api_integration_routes_route_responses_stage_deployment(
    ws_gateway, aws
):
    plan = plan_sync(ws_gateway, client=aws)
    assert aws.mutating_calls == []
    lines = plan.lines()
    assert lines[0] == "+ api chat"
    for expected in (
        "+ integration router: https://www.example.com/ws/",
        "+ integration connect: https://www.example.com/ws/",
        "+ route $connect",
        "+ route $disconnect",
        "+ route $default",
        "+ route ping",
        "+ route chat.send",
        "+ route room.join",
        "+ route response chat.send $default",
        "+ route response $default $default",
        f"+ model {model_name('room.join')}: route room.join",
        "+ stage production",
    ):
        assert expected in lines
    assert "+ route response $connect $default" not in lines
    assert lines[-1] == "+ deployment stage production"

    result = synced(ws_gateway, aws)
    assert result.applied == len(lines)
    gw = ws_gateway
    assert gw.api_id and gw.api_endpoint == aws.gateway.api_endpoint  # get_api ApiEndpoint
    assert gw.api_created and gw.provisioning_status == ApiGateway.ProvisioningStatus.DEPLOYED
    assert gw.deployment_id == aws.deployments[gw.api_id][-1]["DeploymentId"]
    assert gw.last_error == ""

    api = aws.get_api(ApiId=gw.api_id)
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"

    integrations = aws_integrations(aws, gw.api_id)
    assert len(integrations) == 2
    by_role = {i["Description"]: i for i in integrations.values()}
    router_integration = by_role["ws_routes:router"]
    assert gw.integration_id == router_integration["IntegrationId"]
    assert router_integration["IntegrationType"] == "HTTP_PROXY"
    assert router_integration["IntegrationMethod"] == "POST"
    assert router_integration["IntegrationUri"] == "https://www.example.com/ws/"
    assert router_integration["TimeoutInMillis"] == 29000
    assert router_integration["RequestParameters"] == EXPECTED_HEADERS
    connect_integration = by_role["ws_routes:connect"]
    assert connect_integration["IntegrationUri"] == "https://www.example.com/ws/"
    assert connect_integration["RequestParameters"] == {
        **EXPECTED_HEADERS,
        "integration.request.querystring.token": "route.request.querystring.token",
        "integration.request.querystring.channel": "route.request.querystring.channel",
    }

    routes = aws_routes(aws, gw.api_id)
    assert set(routes) == {"$connect", "$disconnect", *MESSAGE_ROUTES}
    assert routes["$connect"]["Target"] == f"integrations/{connect_integration['IntegrationId']}"
    assert routes["$connect"]["RequestParameters"] == {
        "route.request.querystring.token": {"Required": False},
        "route.request.querystring.channel": {"Required": False},
    }
    assert "RouteResponseSelectionExpression" not in routes["$connect"]
    assert "RouteResponseSelectionExpression" not in routes["$disconnect"]
    for key in ("$disconnect", *MESSAGE_ROUTES):
        assert routes[key]["Target"] == f"integrations/{gw.integration_id}"
    for key in MESSAGE_ROUTES:
        assert routes[key]["RouteResponseSelectionExpression"] == "$default"
        responses = aws.get_route_responses(ApiId=gw.api_id, RouteId=routes[key]["RouteId"])
        assert [r["RouteResponseKey"] for r in responses["Items"]] == ["$default"]

    room = routes["room.join"]
    assert room["RequestModels"] == {"$default": model_name("room.join")}
    assert room["ModelSelectionExpression"] == "$request.body.action"
    assert "RequestModels" not in routes["chat.send"] or not routes["chat.send"]["RequestModels"]
    models = aws.get_models(ApiId=gw.api_id)["Items"]
    assert [m["Name"] for m in models] == [model_name("room.join")]
    schema = json.loads(models[0]["Schema"])
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["properties"] == {"room": {"type": "string", "maxLength": 64}}
    assert models[0]["ContentType"] == "application/json"

    assert [s["StageName"] for s in aws.get_stages(ApiId=gw.api_id)["Items"]] == ["production"]


def test_dry_run_makes_no_mutating_call_and_writes_nothing(ws_gateway, aws):
    result = sync_gateway(ws_gateway, client=aws, dry_run=True)
    assert result.dry_run and result.applied == 0
    assert "+ api chat" in result.plan.lines()
    assert aws.mutating_calls == []
    assert aws.get_apis()["Items"] == []
    ws_gateway.refresh_from_db()
    assert (ws_gateway.api_id, ws_gateway.deployment_id, ws_gateway.last_error) == ("", "", "")

    synced(ws_gateway, aws)
    ws_gateway.target_base_endpoint = "https://new.example.com/ws/"
    ws_gateway.save()
    aws.reset()
    result = sync_gateway(ws_gateway, client=aws, dry_run=True)
    assert result.plan.lines()[0].startswith("~ integration")
    assert aws.mutating_calls == []


def test_plan_is_printable_one_change_a_line(ws_gateway, aws):
    plan = plan_sync(ws_gateway, client=aws)
    assert str(plan).splitlines() == plan.lines()
    assert all("\n" not in line for line in plan.lines())
    synced(ws_gateway, aws)
    assert str(plan_sync(ws_gateway, client=aws)) == "Gateway chat: in sync, nothing to do."


# -- changes after provisioning ---------------------------------------------------------------


def test_target_url_change_updates_integrations_in_place(ws_gateway, aws):
    synced(ws_gateway, aws)
    before = aws_integrations(aws, ws_gateway.api_id)
    ws_gateway.target_base_endpoint = "https://new.example.com/ws/"
    ws_gateway.save()

    plan = plan_sync(ws_gateway, client=aws)
    assert plan.lines() == [
        "~ integration router: uri https://www.example.com/ws/ -> https://new.example.com/ws/",
        "~ integration connect: uri https://www.example.com/ws/ -> https://new.example.com/ws/",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)
    after = aws_integrations(aws, ws_gateway.api_id)
    assert set(after) == set(before)  # no new integration, none left behind
    assert {i["IntegrationUri"] for i in after.values()} == {"https://new.example.com/ws/"}
    assert len(aws.deployments[ws_gateway.api_id]) == 2


def test_secret_rotation_updates_the_mapping_without_printing_secrets(ws_gateway, aws, settings):
    synced(ws_gateway, aws)
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [NEW_SECRET, SECRET]}

    plan = plan_sync(ws_gateway, client=aws)
    assert plan.lines() == [
        "~ integration router: X-Ws-Secret rotated from GATEWAY_SECRETS[1] to GATEWAY_SECRETS[0]",
        "~ integration connect: X-Ws-Secret rotated from GATEWAY_SECRETS[1] to GATEWAY_SECRETS[0]",
        "+ deployment stage production",
    ]
    assert NEW_SECRET not in str(plan) and SECRET not in str(plan)
    synced(ws_gateway, aws)
    for integration in aws_integrations(aws, ws_gateway.api_id).values():
        assert integration["RequestParameters"]["integration.request.header.X-Ws-Secret"] == (
            f"'{NEW_SECRET}'"
        )

    # A value set by hand (not in GATEWAY_SECRETS) is replaced too, and said so.
    aws.update_integration(
        ApiId=ws_gateway.api_id,
        IntegrationId=ws_gateway.integration_id,
        RequestParameters={
            **EXPECTED_HEADERS,
            "integration.request.header.X-Ws-Secret": "'typed-in-the-console'",
        },
    )
    assert plan_sync(ws_gateway, client=aws).lines()[0] == (
        "~ integration router: X-Ws-Secret set to GATEWAY_SECRETS[0] (the gateway's value is not "
        "in GATEWAY_SECRETS)"
    )


def test_new_registry_route_is_added_with_its_route_response(ws_gateway, aws, ws_router):
    synced(ws_gateway, aws)
    add_handler_route(ws_router, "room.leave")
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "+ route room.leave",
        "+ route response room.leave $default",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)
    route = aws_routes(aws, ws_gateway.api_id)["room.leave"]
    assert route["RouteResponseSelectionExpression"] == "$default"


def test_prune_deletes_routes_not_in_registry_and_never_the_builtin_ones(
    ws_gateway, aws, monkeypatch
):
    synced(ws_gateway, aws)
    api_id = ws_gateway.api_id
    stray = aws.create_route(
        ApiId=api_id, RouteKey="old.key", Target=f"integrations/{ws_gateway.integration_id}"
    )
    aws.create_route_response(ApiId=api_id, RouteId=stray["RouteId"], RouteResponseKey="$default")

    # An empty registry: every message route goes, the three built-in routes stay.
    mount_router(monkeypatch, Router())
    keep = sync_gateway(ws_gateway, client=aws, prune=False)
    assert keep.plan.lines() == []  # unregistered routes kept, with what they use (the model)
    assert any("route old.key is not in the registry" in note for note in keep.plan.notes)
    assert not any(name == "delete_route" for name in aws.operations)
    assert {"old.key", "ping", "chat.send", "room.join"} <= set(aws_routes(aws, api_id))

    plan = plan_sync(ws_gateway, client=aws, prune=True)
    deleted = sorted(line for line in plan.lines() if line.startswith("- route"))
    assert deleted == ["- route chat.send", "- route old.key", "- route ping", "- route room.join"]
    synced(ws_gateway, aws, prune=True)
    assert set(aws_routes(aws, api_id)) == {"$connect", "$disconnect", "$default"}
    assert aws.get_models(ApiId=api_id)["Items"] == []
    assert len(aws_integrations(aws, api_id)) == 2


def test_failed_aws_call_mid_apply_is_reported_and_the_next_run_repairs(ws_gateway, aws):
    aws.fail_when(
        "create_route",
        lambda kwargs: kwargs["RouteKey"] == "chat.send",
        code="TooManyRequestsException",
        message="Rate exceeded",
    )
    with pytest.raises(AwsCallError) as caught:
        sync_gateway(ws_gateway, client=aws)
    message = str(caught.value)
    assert "create_route" in message and "TooManyRequestsException: Rate exceeded" in message
    assert "'+ route chat.send'" in message and "resumable" in message
    assert caught.value.operation == "create_route"

    ws_gateway.refresh_from_db()
    assert ws_gateway.api_id  # saved as soon as the API existed, not lost with the failure
    assert ws_gateway.deployment_id == ""
    assert "create_route" in ws_gateway.last_error

    plan = plan_sync(ws_gateway, client=aws)
    lines = plan.lines()
    assert "+ api chat" not in lines
    assert not any(line.startswith("+ integration") for line in lines)
    assert "+ route chat.send" in lines
    assert "+ route response chat.send $default" in lines
    assert lines[-1] == "+ deployment stage production"
    synced(ws_gateway, aws)
    assert ws_gateway.last_error == "" and ws_gateway.deployment_id
    keys = [route["RouteKey"] for route in aws.get_routes(ApiId=ws_gateway.api_id)["Items"]]
    assert sorted(keys) == sorted(set(keys))  # nothing created twice


def test_failed_deployment_is_owed_and_done_by_the_next_run(ws_gateway, aws):
    aws.fail_when("create_deployment", code="BadRequestException", message="no routes?")
    with pytest.raises(AwsCallError, match="create_deployment"):
        sync_gateway(ws_gateway, client=aws)
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "+ deployment stage production: the last sync did not finish its deployment"
    ]
    synced(ws_gateway, aws)
    assert len(aws.deployments[ws_gateway.api_id]) == 1


def test_failed_route_response_is_repaired(ws_gateway, aws):
    aws.fail_when("create_route_response", lambda kwargs: True)
    with pytest.raises(AwsCallError, match="create_route_response"):
        sync_gateway(ws_gateway, client=aws)
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert [line for line in lines if line.split(" ")[:3] == ["+", "route", "chat.send"]] == []
    assert not any(line.startswith(("+ api", "+ integration", "+ model")) for line in lines)
    assert {line for line in lines if line.startswith("+ route response")} == {
        f"+ route response {key} $default" for key in MESSAGE_ROUTES
    }
    synced(ws_gateway, aws)


def test_route_response_deleted_in_aws_is_recreated(ws_gateway, aws):
    synced(ws_gateway, aws)
    route = aws_routes(aws, ws_gateway.api_id)["chat.send"]
    [response] = aws.get_route_responses(ApiId=ws_gateway.api_id, RouteId=route["RouteId"])["Items"]
    aws.delete_route_response(
        ApiId=ws_gateway.api_id,
        RouteId=route["RouteId"],
        RouteResponseId=response["RouteResponseId"],
    )
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "+ route response chat.send $default",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)


def test_drifted_route_is_put_back(ws_gateway, aws):
    synced(ws_gateway, aws)
    routes = aws_routes(aws, ws_gateway.api_id)
    # AWS refuses a target that is not an integration of the API: drift to another one.
    other = aws.create_integration(
        ApiId=ws_gateway.api_id, IntegrationType="HTTP_PROXY", IntegrationUri="https://x.test/"
    )["IntegrationId"]
    aws.update_route(
        ApiId=ws_gateway.api_id,
        RouteId=routes["ping"]["RouteId"],
        RouteResponseSelectionExpression="$other",
        Target=f"integrations/{other}",
    )
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert lines[0].startswith(f"~ route ping: target integrations/{other} -> router (")
    assert "route response selection $other -> $default" in lines[0]
    synced(ws_gateway, aws)


def test_api_created_but_not_recorded_is_found_by_name(ws_gateway, aws):
    existing = aws.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    plan = plan_sync(ws_gateway, client=aws)
    assert "+ api chat" not in plan.lines()
    assert plan.notes == [f"found API {existing['ApiId']} named 'chat' in AWS; managing it"]
    synced(ws_gateway, aws)
    assert ws_gateway.api_id == existing["ApiId"]
    assert len(aws.get_apis()["Items"]) == 1


def test_two_apis_with_the_name_is_refused(ws_gateway, aws):
    for _ in range(2):
        aws.create_api(
            Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.x"
        )
    with pytest.raises(PlanError, match="several WebSocket APIs"):
        plan_sync(ws_gateway, client=aws)


def test_recorded_api_deleted_in_aws_is_refused_not_recreated(ws_gateway, aws):
    synced(ws_gateway, aws)
    aws.delete_api(ApiId=ws_gateway.api_id)
    aws.reset()
    with pytest.raises(PlanError, match="does not exist in AWS"):
        sync_gateway(ws_gateway, client=aws)
    assert aws.mutating_calls == []
    ws_gateway.refresh_from_db()
    assert "does not exist in AWS" in ws_gateway.last_error


def test_duplicate_integrations_from_a_race_are_collapsed(ws_gateway, aws):
    synced(ws_gateway, aws)
    duplicate = aws.create_integration(
        ApiId=ws_gateway.api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="https://www.example.com/ws/",
        Description="ws_routes:router",
    )
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert lines == [
        f"- integration router ({duplicate['IntegrationId']})",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)


def test_api_settings_changes_update_the_api(ws_gateway, aws):
    synced(ws_gateway, aws)
    ws_gateway.api_description = "Chat, now with rooms"
    ws_gateway.save()
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "~ api chat: Description 'Chat' -> 'Chat, now with rooms'",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)


# -- gateway validation (API Gateway models, JSON Schema draft 4) ---------------------------------


@pytest.mark.parametrize(
    ("schema", "feature"),
    [
        ({"type": "object", "properties": {"kind": {"const": "a"}}}, "'const' (draft 6)"),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, "'if' (draft 7)"),
        ({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}, "'$defs' (2019-09)"),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "'prefixItems' (2020-12)"),
        ({"type": "number", "exclusiveMinimum": 0}, "numeric 'exclusiveMinimum' (draft 6)"),
        ({"properties": {"a": True}}, "boolean schema true (draft 6)"),
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, "'dependentRequired'"),
        ({"properties": {"a": {"$ref": "https://example.com/a.json"}}}, "only local"),
    ],
)
def test_gateway_validation_refuses_draft4_incompatible_schema(
    ws_gateway, aws, ws_router, schema, feature
):
    # Refused at registration (import time), long before syncroutes...
    with pytest.raises(RouteConfigurationError) as caught:
        add_handler_route(ws_router, "strict", schema=schema, gateway_validation=True)
    assert feature in str(caught.value)
    assert "Route 'strict'" in str(caught.value) and "draft 4" in str(caught.value)
    # ...and the plan still refuses a route that reached the registry without the decorator.
    add_handler_route(ws_router, "strict", schema=schema)
    ws_router._routes["strict"] = dataclasses.replace(
        ws_router.routes["strict"], gateway_validation=True
    )
    with pytest.raises(PlanError) as caught:
        plan_sync(ws_gateway, client=aws)
    assert feature in str(caught.value) and "Route 'strict'" in str(caught.value)
    assert aws.calls == []  # refused before any AWS call


def test_draft4_problems_accepts_what_draft4_has():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            "tags": {"type": "array", "items": [{"type": "string"}], "additionalItems": False},
            "ref": {"$ref": "#/definitions/x"},
        },
        "definitions": {"x": {"enum": ["a", "b"]}},
        "dependencies": {"a": ["b"], "c": {"required": ["d"]}},
        "anyOf": [{"required": ["n"]}, {"not": {"required": ["tags"]}}],
    }
    assert draft4_problems(schema) == []
    assert draft4_problems({"properties": {"a/b": {"const": 1}}}) == [
        "/properties/a~1b/const: 'const' (draft 6)"
    ]


def test_model_follows_the_schema_and_goes_with_gateway_validation(ws_gateway, aws, monkeypatch):
    synced(ws_gateway, aws)
    name = model_name("room.join")

    changed = Router()
    add_handler_route(changed, "ping")
    add_handler_route(changed, "chat.send")
    add_handler_route(
        changed,
        "room.join",
        schema={"type": "object", "required": ["room", "as"]},
        gateway_validation=True,
    )
    mount_router(monkeypatch, changed)
    assert plan_sync(ws_gateway, client=aws).lines() == [
        f"~ model {name}: schema of route room.join",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)
    [model] = aws.get_models(ApiId=ws_gateway.api_id)["Items"]
    assert json.loads(model["Schema"])["required"] == ["room", "as"]

    plain = Router()
    for key in ("ping", "chat.send", "room.join"):
        add_handler_route(plain, key)
    mount_router(monkeypatch, plain)
    room = aws_routes(aws, ws_gateway.api_id)["room.join"]
    aws.update_route(
        ApiId=ws_gateway.api_id, RouteId=room["RouteId"], AuthorizationType="AWS_IAM"
    )  # set in the console: not ours to drop
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert lines[0] == "~ route room.join: recreated to request model removed"
    assert f"- model {name}" in lines
    synced(ws_gateway, aws)
    route = aws_routes(aws, ws_gateway.api_id)["room.join"]
    assert not route.get("RequestModels")
    assert route["AuthorizationType"] == "AWS_IAM"
    assert route["RouteResponseSelectionExpression"] == "$default"
    assert aws.get_models(ApiId=ws_gateway.api_id)["Items"] == []


# -- GatewayRoute rows ------------------------------------------------------------------------


def test_gateway_route_rows_get_their_own_integration_and_go_when_deleted(ws_gateway, aws):
    synced(ws_gateway, aws)
    row = GatewayRoute.objects.create(
        api_gateway=ws_gateway, route_key="legacy", integration_url="https://legacy.example.com/ws/"
    )
    GatewayRoute.objects.create(api_gateway=ws_gateway, route_key="chat.send")  # router URL
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "+ integration route:legacy: https://legacy.example.com/ws/",
        "+ route legacy",
        "+ route response legacy $default",
        "+ deployment stage production",
    ]
    synced(ws_gateway, aws)
    row.refresh_from_db()
    integrations = aws_integrations(aws, ws_gateway.api_id)
    assert integrations[row.integration_id]["IntegrationUri"] == "https://legacy.example.com/ws/"
    assert integrations[row.integration_id]["RequestParameters"] == EXPECTED_HEADERS
    assert aws_routes(aws, ws_gateway.api_id)["legacy"]["Target"] == (
        f"integrations/{row.integration_id}"
    )
    assert row.route_id and row.deployed

    row.delete()
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert lines[:2] == ["- route legacy", f"- integration route:legacy ({row.integration_id})"]
    synced(ws_gateway, aws)
    assert len(aws_integrations(aws, ws_gateway.api_id)) == 2


def test_row_with_a_custom_url_overrides_a_registry_route(ws_gateway, aws):
    synced(ws_gateway, aws)
    GatewayRoute.objects.create(
        api_gateway=ws_gateway, route_key="ping", integration_url="https://other.example.com/ping/"
    )
    lines = plan_sync(ws_gateway, client=aws).lines()
    assert lines[0] == "+ integration route:ping: https://other.example.com/ping/"
    assert lines[1] == "~ route ping: target integrations/" + ws_gateway.integration_id + (
        " -> route:ping"
    )
    synced(ws_gateway, aws)


@pytest.mark.parametrize("key", ["$connect", "$default", "bad key", "", "-starts-with-dash", "é"])
def test_rows_with_invalid_keys_are_refused(ws_gateway, aws, key):
    GatewayRoute.objects.create(api_gateway=ws_gateway, route_key=key)
    with pytest.raises(PlanError, match="route key"):
        plan_sync(ws_gateway, client=aws)
    assert aws.calls == []


def test_row_with_a_hostile_url_is_refused(ws_gateway, aws):
    GatewayRoute.objects.create(
        api_gateway=ws_gateway, route_key="x", integration_url="javascript:alert(1)"
    )
    with pytest.raises(PlanError, match="not an http"):
        plan_sync(ws_gateway, client=aws)


# -- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "secrets",
    [[], None, "a-single-string-is-not-a-list-0123456789", ["short"], ["has'quote" * 8]],
)
def test_no_usable_secret_refuses_to_provision(ws_gateway, aws, settings, secrets):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": secrets}
    with pytest.raises(PlanError, match="GATEWAY_SECRETS"):
        sync_gateway(ws_gateway, client=aws)
    assert aws.calls == []
    ws_gateway.refresh_from_db()
    assert "GATEWAY_SECRETS" in ws_gateway.last_error


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "target_base_endpoint is blank"),
        ("ftp://www.example.com/ws/", "not an http"),
        ("https://www.example.com/nowhere/", "no URL pattern matches '/nowhere/'"),
        ("https://www.example.com/pages/", "not a ws_routes gateway view"),
    ],
)
def test_target_base_endpoint_must_lead_to_a_router(ws_gateway, aws, url, match):
    ws_gateway.target_base_endpoint = url
    with pytest.raises(PlanError, match=match):
        plan_sync(ws_gateway, client=aws)


def test_the_router_is_the_one_mounted_at_the_target_path(ws_gateway, ws_router):
    assert deploy.resolve_router(ws_gateway) is ws_router


def test_route_selection_mismatch_is_warned(ws_gateway, aws):
    ws_gateway.route_selection_expression = "$request.body.type"
    plan = plan_sync(ws_gateway, client=aws)
    assert any("$request.body.action" in warning for warning in plan.warnings)


def test_too_many_routes_is_warned(ws_gateway, aws, ws_router):
    for index in range(300):
        add_handler_route(ws_router, f"r{index}")
    assert any("quota of 300" in w for w in plan_sync(ws_gateway, client=aws).warnings)


def test_aws_error_messages_never_carry_the_secret(ws_gateway, aws):
    aws.fail_when("create_integration", message=f"bad value '{SECRET}' in mapping")
    with pytest.raises(AwsCallError) as caught:
        sync_gateway(ws_gateway, client=aws)
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)
    ws_gateway.refresh_from_db()
    assert SECRET not in ws_gateway.last_error


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need a server database (DATABASE_URL)"
)
def test_concurrent_syncs_of_one_gateway_run_one_after_the_other(aws, ws_router):
    gateway = ApiGateway.objects.create(
        api_name="race", target_base_endpoint="https://www.example.com/ws/", region=REGION
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sync_gateway(ApiGateway.objects.get(pk=gateway.pk), client=aws)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(aws.get_apis()["Items"]) == 1
    gateway.refresh_from_db()
    assert len(aws_integrations(aws, gateway.api_id)) == 2
    keys = [route["RouteKey"] for route in aws.get_routes(ApiId=gateway.api_id)["Items"]]
    assert sorted(keys) == sorted(set(keys))
    assert plan_sync(gateway, client=aws).lines() == []


def test_build_router_is_not_frozen():
    router = build_router()
    add_handler_route(router, "extra")
    assert "extra" in router


def test_resolves_the_router_mounted_with_include_router_urls(db, settings):
    """The project's own URLconf: path("ws/", include(router.urls)) with the real view."""
    from ws_routes import router

    settings.ROOT_URLCONF = "tests.urls"
    gateway = ApiGateway(api_name="x", target_base_endpoint="https://www.example.com/ws/")
    assert deploy.resolve_router(gateway) is router
    gateway.target_base_endpoint = "https://www.example.com/ws/token/"
    with pytest.raises(PlanError, match="not a ws_routes gateway view"):
        deploy.resolve_router(gateway)


def test_draft4_problems_survives_hostile_schemas():
    deep: dict = {}
    node = deep
    for _ in range(50_000):
        node["not"] = {}
        node = node["not"]
    node["const"] = 1
    [problem] = draft4_problems(deep)
    assert problem.endswith("/const: 'const' (draft 6)") and problem.count("/not") == 50_000
    assert draft4_problems(["not", "a", "schema"]) == ["/: a schema must be an object"]
    assert draft4_problems({"properties": {"a": 5, "b": None}}) == [
        "/properties/a: a schema must be an object",
        "/properties/b: a schema must be an object",
    ]
    wide = {"properties": {f"p{i}": {"const": i} for i in range(10_000)}}
    assert len(draft4_problems(wide)) == 10_000


def test_default_clients_are_cached_per_region_with_timeouts(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    deploy.aws._cached_client.cache_clear()
    try:
        london = ApiGateway(api_name="a", region="eu-west-2")
        first = deploy.apigateway_client(london)
        assert first is deploy.apigateway_client(ApiGateway(api_name="b", region="eu-west-2"))
        assert first.meta.region_name == "eu-west-2"
        assert first.meta.service_model.service_name == "apigatewayv2"
        assert (first.meta.config.connect_timeout, first.meta.config.read_timeout) == (5, 30)
        virginia = deploy.apigateway_client(ApiGateway(api_name="c", region="us-east-1"))
        assert virginia is not first and virginia.meta.region_name == "us-east-1"
        assert deploy.route53_client(london).meta.service_model.service_name == "route53"
    finally:
        deploy.aws._cached_client.cache_clear()


@pytest.mark.parametrize("name", ["to ken", "", "x" * 129, "tok'en", None])
def test_unmappable_query_parameter_settings_are_refused(ws_gateway, aws, settings, name):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_QUERY_PARAM": name}
    with pytest.raises(PlanError, match="TOKEN_QUERY_PARAM"):
        plan_sync(ws_gateway, client=aws)
    assert aws.calls == []
