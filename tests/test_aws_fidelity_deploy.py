"""Deploy as AWS needs it (issue 9): region errors (3), IAM (4), the order of ``$connect``
parameters (5), pacing and throttling (6), real response shapes (7), deployment status and the
stage description (8), the control-plane endpoint setting. moto behind the stand-ins of
tests/aws_shapes.py; nothing leaves the machine.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.aws_shapes import FakeClock, ShapedClient, ShapedDict, ThrottlingClient, shaped
from tests.deploy_support import REGION, RecordingClient, add_handler_route, mount_router
from tests.test_commands_deploy import ACCOUNT, _allowed, _arn_of_call, _pascal
from ws_routes import deploy
from ws_routes.deploy import AwsCallError, PlanError, iam, pace, plan_sync, sync_gateway
from ws_routes.deploy import aws as deploy_aws
from ws_routes.models import ApiGateway
from ws_routes.routing import Router

pytest_plugins = ["tests.deploy_fixtures"]

QUERY_SOURCES = ("route.request.querystring.token", "route.request.querystring.channel")


def _moto_update_stage(self: RecordingClient, ApiId: str, StageName: str, **changes: Any) -> dict:
    """moto 5.2.5 lacks update_stage: change moto's own stage (description only, the one field
    the library updates), then answer with moto's GetStage."""
    from moto.apigatewayv2.models import apigatewayv2_backends

    assert set(changes) <= {"Description"}, changes
    self._client.get_stage(ApiId=ApiId, StageName=StageName)  # NotFoundException like AWS
    backend = apigatewayv2_backends[ACCOUNT][REGION]
    backend.get_stage(ApiId, StageName).description = changes.get("Description")
    answer = self._client.get_stage(ApiId=ApiId, StageName=StageName)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture
def aws(aws_moto: RecordingClient) -> RecordingClient:
    """moto with the gaps filled (tests/deploy_support.py): these tests check the library
    against botocore's shapes and AWS's variations, custom domains included, which the local
    gateway's control plane does not serve."""
    return aws_moto


@pytest.fixture(autouse=True)
def moto_update_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RecordingClient, "_stub_update_stage", _moto_update_stage, raising=False)


def synced_twice(gateway: ApiGateway, client: Any) -> Any:
    """Sync, then a second sync must plan nothing."""
    result = sync_gateway(gateway, client=client)
    again = plan_sync(gateway, client=client)
    assert again.lines() == [], again.lines()
    gateway.refresh_from_db()
    return result


@pytest.fixture
def clock(monkeypatch, settings):
    """The library's pacer on a fake clock, pacing as in production."""
    fake = FakeClock()
    monkeypatch.setattr(pace, "pacer", pace.Pacer(fake.now, fake.sleep, lambda: 0.5))
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "DEPLOY_CALLS_PER_SECOND": 10.0,
        "DEPLOY_CALLS_BURST": 40,
        "DEPLOY_DEPLOYMENT_INTERVAL_SECONDS": 5.0,
        "DEPLOY_THROTTLE_RETRIES": 6,
        "DEPLOY_DEPLOYMENT_WAIT_SECONDS": 30.0,
    }
    return fake


# -- item 7: responses as botocore's model shapes them -------------------------------------------


def test_the_shape_checker_catches_reads_and_members_the_model_lacks():
    extra: list[str] = []
    reads: list[str] = []
    import botocore.session

    model = botocore.session.get_session().get_service_model("apigatewayv2")
    response = shaped(
        {"Items": [{"RouteKey": "a", "RouteId": "r1", "Invented": 1}]},
        model.operation_model("GetRoutes").output_shape,
        "GetRoutes",
        extra,
        reads,
    )
    item = response["Items"][0]
    assert isinstance(item, ShapedDict)
    assert item["RouteKey"] == "a" and item.get("Target") is None
    assert reads == []
    item.get("RouteName")
    assert reads == ["GetRoutes.Items[].RouteName"]
    assert extra == ["GetRoutes.Items[].Invented"]


def test_every_field_the_sync_reads_is_in_botocores_model(ws_gateway, aws, monkeypatch):
    ws_gateway.stage_description = "first"
    ws_gateway.tags = {"team": "chat"}
    zone = aws.route53.create_hosted_zone(Name="example.com.", CallerReference="issue9")
    ws_gateway.hosted_zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    ws_gateway.save()
    client = ShapedClient(aws)
    synced_twice(ws_gateway, client)
    # Updates, prunes, a model change, a new description, then the custom domain.
    router = Router()
    add_handler_route(router, "ping")
    add_handler_route(router, "room.kick", schema={"type": "object"}, gateway_validation=True)
    mount_router(monkeypatch, router)
    ws_gateway.stage_description = "second"
    ws_gateway.api_description = "changed"
    ws_gateway.save()
    synced_twice(ws_gateway, client)
    deploy.create_custom_domain(ws_gateway, client=client, route53=aws.route53)
    deploy.create_custom_domain(ws_gateway, client=client, route53=aws.route53)
    assert client.unknown_reads == []
    assert client.extra == []  # moto (and the stubs) answer nothing the model lacks
    assert {"get_routes", "create_route", "get_domain_name", "update_stage"} <= set(
        client.operations
    )


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_a_second_sync_plans_nothing_whatever_case_aws_gives_header_names(
    ws_gateway, aws, case, settings
):
    sync_gateway(ws_gateway, client=aws)
    client = ShapedClient(aws, header_case=case)
    integrations = client.get_integrations(ApiId=ws_gateway.api_id)["Items"]
    assert any(case("X-Ws-Secret") in key for i in integrations for key in i["RequestParameters"])
    assert plan_sync(ws_gateway, client=client).lines() == []
    # A real difference is still seen, printed with the library's spelling, secrets hidden.
    secret = settings.WS_ROUTES["GATEWAY_SECRETS"][0]
    new = "rotated-secret-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [new, secret]}
    lines = plan_sync(ws_gateway, client=client).lines()
    assert lines[:2] == [
        "~ integration router: X-Ws-Secret rotated from GATEWAY_SECRETS[1] to GATEWAY_SECRETS[0]",
        "~ integration connect: X-Ws-Secret rotated from GATEWAY_SECRETS[1] to GATEWAY_SECRETS[0]",
    ]
    assert secret not in str(lines) and new not in str(lines)


def test_a_second_sync_plans_nothing_when_get_models_omits_schema(ws_gateway, aws):
    sync_gateway(ws_gateway, client=aws)
    client = ShapedClient(aws, drop_model_schema=True)
    assert all("Schema" not in m for m in client.get_models(ApiId=ws_gateway.api_id)["Items"])
    assert plan_sync(ws_gateway, client=client).lines() == []
    assert client.operations.count("get_model") == 1  # the one model the registry pushes


def test_a_changed_schema_is_still_seen_when_get_models_omits_it(ws_gateway, aws, monkeypatch):
    sync_gateway(ws_gateway, client=aws)
    router = Router()
    add_handler_route(
        router, "room.join", schema={"type": "object", "required": ["x"]}, gateway_validation=True
    )
    mount_router(monkeypatch, router)
    lines = plan_sync(ws_gateway, client=ShapedClient(aws, drop_model_schema=True)).lines()
    assert any(line.startswith("~ model WsRoutesRoomJoin") for line in lines), lines


def test_everything_is_found_across_pages(ws_gateway, aws, monkeypatch):
    router = Router()
    for index in range(12):
        add_handler_route(router, f"r{index}")
    mount_router(monkeypatch, router)
    client = ShapedClient(aws, page_size=2)
    synced_twice(ws_gateway, client)
    assert client.pages_served > 10
    assert len(aws.get_routes(ApiId=ws_gateway.api_id, MaxResults="500")["Items"]) == 15


# -- item 5: $connect declares its query parameters before the integration maps them ---------


def _maps_query(kwargs: dict[str, Any]) -> bool:
    return any(v in QUERY_SOURCES for v in (kwargs.get("RequestParameters") or {}).values())


def _connect_route_index(calls: list[tuple[str, dict[str, Any]]], operation: str) -> int:
    return next(
        i
        for i, (name, kwargs) in enumerate(calls)
        if name == operation
        and kwargs.get("RouteKey", "$connect") == "$connect"
        and set(kwargs.get("RequestParameters") or {}) >= set(QUERY_SOURCES)
    )


def test_on_create_the_route_declares_first_then_the_integration_maps(ws_gateway, aws):
    plan = plan_sync(ws_gateway, client=aws)
    assert "~ integration connect: add integration.request.querystring.channel = " in str(plan)
    synced_twice(ws_gateway, aws)
    calls = aws.calls
    declared = _connect_route_index(calls, "create_route")
    mapping = [
        i for i, (n, kw) in enumerate(calls) if n.endswith("_integration") and _maps_query(kw)
    ]
    assert mapping and min(mapping) > declared
    routes = {r["RouteKey"]: r for r in aws.get_routes(ApiId=ws_gateway.api_id)["Items"]}
    integration = aws.get_integration(
        ApiId=ws_gateway.api_id, IntegrationId=routes["$connect"]["Target"].split("/")[1]
    )
    assert set(integration["RequestParameters"].values()) >= set(QUERY_SOURCES)


def test_on_update_an_undeclared_mapping_is_dropped_then_restored_after_the_route(ws_gateway, aws):
    sync_gateway(ws_gateway, client=aws)
    api_id = ws_gateway.api_id
    routes = {r["RouteKey"]: r for r in aws.get_routes(ApiId=api_id)["Items"]}
    connect = routes["$connect"]
    # An older deployment: $connect declares nothing, the integration maps the query anyway.
    aws.delete_route(ApiId=api_id, RouteId=connect["RouteId"])
    aws.create_route(ApiId=api_id, RouteKey="$connect", Target=connect["Target"])
    aws.reset()
    synced_twice(ws_gateway, aws)
    calls = aws.calls
    first_update = next(i for i, (n, _) in enumerate(calls) if n == "update_integration")
    assert not _maps_query(calls[first_update][1])
    declared = _connect_route_index(calls, "update_route")
    assert first_update < declared
    restored = [
        i for i, (n, kw) in enumerate(calls) if n == "update_integration" and _maps_query(kw)
    ]
    assert restored and min(restored) > declared


def test_renaming_the_token_parameter_never_maps_an_undeclared_one(ws_gateway, aws, settings):
    sync_gateway(ws_gateway, client=aws)
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_QUERY_PARAM": "ticket"}
    aws.reset()
    synced_twice(ws_gateway, aws)
    declared: set[str] = {"route.request.querystring.token", "route.request.querystring.channel"}
    for name, kwargs in aws.calls:  # replay: what is declared at each step
        if name in ("create_route", "update_route") and kwargs.get("RouteKey") == "$connect":
            declared = set(kwargs.get("RequestParameters") or {})
        elif name == "delete_route":
            declared = set()
        elif name.endswith("_integration") and "RequestParameters" in kwargs:
            sources = {
                v for v in kwargs["RequestParameters"].values() if v.startswith("route.request.")
            }
            assert sources <= declared, (name, sources, declared)


# -- item 6: pacing, throttling, spaced deployments ---------------------------------------------


def _big_router(monkeypatch: Any, routes: int) -> None:
    router = Router()
    for index in range(routes):
        add_handler_route(router, f"route.{index:03d}")
    mount_router(monkeypatch, router)


def test_a_300_route_sync_stays_under_awss_pace(ws_gateway, aws, clock, monkeypatch):
    _big_router(monkeypatch, 297)  # + $connect, $disconnect, $default
    client = ThrottlingClient(aws, clock, rate=10, burst=40)
    synced_twice(ws_gateway, client)
    assert client.throttled == 0
    calls = len(client.accepted)
    assert calls > 900
    # Never faster than the bucket: at most 40 + 10 per second of (fake) time.
    for start in range(0, int(clock.now()) - 1):
        window = [t for t, _ in client.accepted if start <= t < start + 1]
        assert len(window) <= 40 + 10
    assert clock.now() >= (calls - 40) / 10 - 1


def test_a_busier_account_throttles_and_the_sync_still_finishes(
    ws_gateway, aws, clock, monkeypatch
):
    _big_router(monkeypatch, 60)
    client = ThrottlingClient(aws, clock, rate=3, burst=5)  # others use the account too
    synced_twice(ws_gateway, client)
    assert client.throttled > 0
    assert pace.pacer.waited > 0


def test_throttled_beyond_the_retries_the_sync_fails_naming_the_call(
    ws_gateway, aws, clock, settings
):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "DEPLOY_THROTTLE_RETRIES": 2}
    aws.fail_when("create_api", times=3, code="TooManyRequestsException", message="Slow down")
    with pytest.raises(AwsCallError, match="create_api failed: TooManyRequestsException"):
        sync_gateway(ws_gateway, client=aws)
    assert aws.operations.count("create_api") == 3
    aws.fail_when("create_api", times=2, code="TooManyRequestsException")
    synced_twice(ws_gateway, aws)  # two throttles: retried, then done


def test_deployments_back_to_back_are_spaced(ws_gateway, aws, clock, monkeypatch):
    other = ApiGateway.objects.create(
        api_name="second",
        target_base_endpoint="https://www.example.com/ws/",
        region=REGION,
        stage_name="production",
    )
    client = ThrottlingClient(aws, clock, rate=10, burst=40, deployment_interval=5)
    monkeypatch.setattr(deploy_aws, "apigateway_client", lambda gateway: client)
    call_command("syncroutes", stdout=StringIO(), stderr=StringIO())
    for gateway in (ws_gateway, other):
        gateway.refresh_from_db()
        gateway.stage_description = "again"
        gateway.save()
    call_command("syncroutes", stdout=StringIO(), stderr=StringIO())
    deployed = [t for t, name in client.accepted if name == "create_deployment"]
    assert len(deployed) == 4
    assert all(b - a >= 5 - 1e-6 for a, b in zip(deployed, deployed[1:], strict=False))
    assert client.throttled == 0


# -- item 8: deployment status and the stage description -----------------------------------------


def test_a_failed_deployment_is_an_error_naming_awss_message_and_is_owed(ws_gateway, aws, clock):
    client = ShapedClient(aws, deployment_statuses=[("FAILED", "Integration uri is invalid")])
    with pytest.raises(AwsCallError, match="FAILED: Integration uri is invalid"):
        sync_gateway(ws_gateway, client=client)
    ws_gateway.refresh_from_db()
    assert ws_gateway.deployment_id == ""
    assert "Integration uri is invalid" in ws_gateway.last_error
    plan = plan_sync(ws_gateway, client=aws)
    assert plan.lines() == [
        "+ deployment stage production: the last sync did not finish its deployment"
    ]
    synced_twice(ws_gateway, aws)
    assert ws_gateway.provisioning_status == ApiGateway.ProvisioningStatus.DEPLOYED


def test_a_pending_deployment_is_waited_for(ws_gateway, aws, clock):
    statuses = [("PENDING", ""), ("PENDING", ""), ("DEPLOYED", "")]
    client = ShapedClient(aws, deployment_statuses=statuses)
    sync_gateway(ws_gateway, client=client)
    assert client.operations.count("get_deployment") == 2
    ws_gateway.refresh_from_db()
    assert ws_gateway.deployment_id


def test_a_deployment_pending_then_failed_is_an_error(ws_gateway, aws, clock):
    client = ShapedClient(aws, deployment_statuses=[("PENDING", ""), ("FAILED", "Route x bad")])
    with pytest.raises(AwsCallError, match="Route x bad"):
        sync_gateway(ws_gateway, client=client)


def test_a_deployment_pending_forever_is_waited_for_a_bounded_time(ws_gateway, aws, clock, caplog):
    client = ShapedClient(aws, deployment_statuses=[("PENDING", "")])
    sync_gateway(ws_gateway, client=client)
    assert 25 <= client.operations.count("get_deployment") <= 31
    assert clock.now() < 60
    assert "still PENDING" in caplog.text


def test_a_changed_stage_description_is_updated(ws_gateway, aws):
    ws_gateway.stage_description = "v1"
    ws_gateway.save()
    synced_twice(ws_gateway, aws)
    assert aws.get_stage(ApiId=ws_gateway.api_id, StageName="production")["Description"] == "v1"
    ws_gateway.stage_description = "v2 with 'quotes' and ünïcode"
    ws_gateway.save()
    assert plan_sync(ws_gateway, client=aws).lines() == [
        "~ stage production: description 'v1' -> \"v2 with 'quotes' and ünïcode\"",
        "+ deployment stage production",
    ]
    synced_twice(ws_gateway, aws)
    stage = aws.get_stage(ApiId=ws_gateway.api_id, StageName="production")
    assert stage["Description"] == "v2 with 'quotes' and ünïcode"
    ws_gateway.stage_description = ""
    ws_gateway.save()
    synced_twice(ws_gateway, aws)
    assert not aws.get_stage(ApiId=ws_gateway.api_id, StageName="production").get("Description")


# -- item 3: no region anywhere --------------------------------------------------------------


@pytest.fixture
def no_region_anywhere(monkeypatch, tmp_path, settings, ws_gateway):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    settings.WS_ROUTES = {**settings.WS_ROUTES, "REGION": None}
    ws_gateway.region = ""
    ws_gateway.save()
    deploy_aws._cached_client.cache_clear()
    yield ws_gateway
    deploy_aws._cached_client.cache_clear()


def test_create_api_gateway_without_a_region_says_where_to_set_it(no_region_anywhere):
    with pytest.raises(CommandError) as caught:
        call_command("createApiGateway", "--pk", str(no_region_anywhere.pk), stdout=StringIO())
    message = str(caught.value)
    assert "no AWS region" in message and "ApiGateway.region" in message
    assert "WS_ROUTES['REGION']" in message and "AWS_REGION" in message
    assert "Traceback" not in message
    no_region_anywhere.refresh_from_db()
    assert "no AWS region" in no_region_anywhere.last_error


def test_syncroutes_without_a_region_says_where_to_set_it(no_region_anywhere):
    err = StringIO()
    with pytest.raises(CommandError, match="Sync failed for: chat"):
        call_command("syncroutes", stdout=StringIO(), stderr=err)
    assert "no AWS region" in err.getvalue() and "ApiGateway.region" in err.getvalue()


def test_create_custom_domain_without_a_region_is_a_command_error(no_region_anywhere):
    no_region_anywhere.api_id = "abc123"
    no_region_anywhere.save()
    with pytest.raises(CommandError, match="no AWS region"):
        call_command("createCustomDomain", "--pk", str(no_region_anywhere.pk), stdout=StringIO())


# -- the control-plane endpoint setting ----------------------------------------------------------


def test_the_apigatewayv2_endpoint_setting_is_used_and_keys_the_cache(settings, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_APIGATEWAYV2", raising=False)
    deploy_aws._cached_client.cache_clear()
    try:
        gateway = ApiGateway(api_name="a", region="eu-west-2")
        default = deploy.apigateway_client(gateway)
        assert default.meta.endpoint_url == "https://apigateway.eu-west-2.amazonaws.com"
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:8002",
        }
        local = deploy.apigateway_client(gateway)
        assert local is not default and local.meta.endpoint_url == "http://127.0.0.1:8002"
        assert deploy.apigateway_client(gateway) is local
        # Route 53 and STS are not the control plane of API Gateway: never redirected.
        assert "127.0.0.1" not in deploy.route53_client(gateway).meta.endpoint_url
        settings.WS_ROUTES = {**settings.WS_ROUTES, "AWS_ENDPOINT_URL_APIGATEWAYV2": "not a url"}
        with pytest.raises(PlanError, match="AWS_ENDPOINT_URL_APIGATEWAYV2"):
            deploy.apigateway_client(gateway)
    finally:
        deploy_aws._cached_client.cache_clear()


# -- item 4: IAM ---------------------------------------------------------------------------------


def test_the_policy_covers_every_call_including_the_occasional_ones(ws_gateway, aws, clock):
    ws_gateway.tags = {"team": "chat"}
    ws_gateway.save()
    policy_before = iam.iam_policy(ws_gateway, account_id=ACCOUNT)
    client = ShapedClient(
        aws, drop_model_schema=True, deployment_statuses=[("PENDING", ""), ("DEPLOYED", "")]
    )
    sync_gateway(ws_gateway, client=client)
    before = list(client.calls)
    client.calls.clear()
    ws_gateway.refresh_from_db()
    policy_domain = iam.iam_policy(ws_gateway, account_id=ACCOUNT)
    ws_gateway.stage_description = "changed"
    ws_gateway.save()
    sync_gateway(ws_gateway, client=client)
    deploy.create_custom_domain(ws_gateway, client=client)
    after = list(client.calls)

    operations = {_pascal(name) for name, _ in before + after}
    expected = {*iam.SYNC_OPERATIONS, *iam.SYNC_OCCASIONAL_OPERATIONS, *iam.DOMAIN_OPERATIONS}
    # Every occasional operation happened here; the other ones are pinned exactly by
    # tests/test_commands_deploy.py::test_iam_policy_covers_exactly_the_calls_the_library_makes.
    assert set(iam.SYNC_OCCASIONAL_OPERATIONS) | set(iam.DOMAIN_OPERATIONS) <= operations
    assert operations <= expected
    for policy, calls in ((policy_before, before), (policy_domain, after)):
        for name, kwargs in calls:
            action, resource = _arn_of_call(name, kwargs)
            assert _allowed(policy, action, resource), (name, resource)
    # CreateDomainName carries Tags: tagging is granted although the API exists already.
    assert any(name == "create_domain_name" and "Tags" in kwargs for name, kwargs in after)
    assert _allowed(
        policy_domain, "apigateway:POST", f"arn:aws:apigateway:{REGION}::/tags/arn-of-domain"
    )


def test_a_custom_domain_may_create_api_gateways_service_linked_role(ws_gateway):
    ws_gateway.api_id = "a1b2c3d4e5"
    statements = {s["Sid"]: s for s in iam.iam_policy(ws_gateway, account_id=ACCOUNT)["Statement"]}
    role = statements["ApiGatewayServiceLinkedRole"]
    assert role == {
        "Sid": "ApiGatewayServiceLinkedRole",
        "Effect": "Allow",
        "Action": "iam:CreateServiceLinkedRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ops.apigateway.amazonaws.com/"
        "AWSServiceRoleForAPIGateway",
        "Condition": {"StringEquals": {"iam:AWSServiceName": "ops.apigateway.amazonaws.com"}},
    }
    assert "ApiGatewayPost" in statements
    assert not any("tags" in r for r in statements["ApiGatewayPost"]["Resource"])  # no tags
    ws_gateway.domain_name = ""
    statements = {s["Sid"] for s in iam.iam_policy(ws_gateway, account_id=ACCOUNT)["Statement"]}
    assert "ApiGatewayServiceLinkedRole" not in statements


@pytest.mark.parametrize(
    "region, partition",
    [("cn-northwest-1", "aws-cn"), ("us-gov-east-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso")],
)
def test_policy_arns_use_botocores_partitions(ws_gateway, region, partition):
    ws_gateway.region = region
    text = json.dumps(iam.iam_policy(ws_gateway, account_id=ACCOUNT))
    assert f"arn:{partition}:apigateway:{region}::" in text
    assert f"arn:{partition}:execute-api:{region}:{ACCOUNT}:" in text
    assert f"arn:{partition}:iam::{ACCOUNT}:role/" in text
    assert "arn:aws:" not in text
