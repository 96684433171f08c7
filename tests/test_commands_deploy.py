"""syncroutes, createApiGateway, createCustomDomain and the IAM policy.

``apigatewayv2`` is the local gateway's control plane (``aws``); custom domains and API mappings,
which it does not serve, run under moto (``aws_moto``), whose gaps
tests.deploy_support.RecordingClient fills for those tests only (see its docstring).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from io import StringIO

import botocore.session
import pytest
from django.core.management import CommandError, call_command

from tests.deploy_support import REGION, add_handler_route, mount_router
from ws_routes import deploy
from ws_routes.deploy import iam
from ws_routes.models import ApiGateway, GatewayRoute
from ws_routes.routing import Router

pytest_plugins = ["tests.deploy_fixtures"]

ACCOUNT = "123456789012"  # moto's account


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# -- syncroutes -------------------------------------------------------------------------------


def test_syncroutes_prints_the_plan_applies_it_and_a_second_run_does_nothing(ws_gateway, aws):
    out, _ = run("syncroutes")
    lines = out.splitlines()
    assert lines[0] == "Gateway chat:"
    assert "+ api chat" in lines and "+ route chat.send" in lines
    assert "+ route response chat.send $default" in lines
    assert lines[-2].startswith("Gateway chat: applied ")
    ws_gateway.refresh_from_db()
    [deployment] = aws.deployments[ws_gateway.api_id]
    assert f"deployment {deployment['DeploymentId']} on stage production" in lines[-2]
    assert ws_gateway.deployment_id == deployment["DeploymentId"]
    # Issue 26 item 4: where clients connect, the API's endpoint and the stage.
    assert lines[-1] == f"Clients connect to {ws_gateway.api_endpoint}/production"
    assert ws_gateway.api_endpoint

    aws.reset()
    out, _ = run("syncroutes", "--gateway", "chat")
    assert out.splitlines()[1:] == [
        "Gateway chat: in sync, nothing to do.",
        f"Clients connect to {ws_gateway.api_endpoint}/production",
    ]
    assert aws.mutating_calls == []


def test_syncroutes_dry_run_makes_no_mutating_call(ws_gateway, aws):
    out, _ = run("syncroutes", "--dry-run")
    assert "+ api chat" in out
    assert out.splitlines()[-1].startswith("Dry run: ")
    assert aws.mutating_calls == []
    ws_gateway.refresh_from_db()
    assert ws_gateway.api_id == ""


def test_syncroutes_gateway_by_name_or_pk(ws_gateway, aws):
    other = ApiGateway.objects.create(api_name="other", target_base_endpoint="")
    out, _ = run("syncroutes", "--gateway", str(ws_gateway.pk), "--dry-run")
    assert "Gateway chat:" in out and "other" not in out
    err = StringIO()
    with pytest.raises(CommandError, match="Sync failed for: other"):
        call_command("syncroutes", "--gateway", "other", stdout=StringIO(), stderr=err)
    assert "target_base_endpoint is blank" in err.getvalue()
    other.refresh_from_db()
    assert "target_base_endpoint is blank" in other.last_error


@pytest.mark.parametrize("reference", ["nope", "999", "'; DROP TABLE x; --", "x" * 10_000])
def test_syncroutes_unknown_gateway(ws_gateway, aws, reference):
    with pytest.raises(CommandError, match="No ApiGateway with name or pk"):
        run("syncroutes", "--gateway", reference)
    assert aws.calls == []


def test_syncroutes_without_gateways(db, aws):
    with pytest.raises(CommandError, match="No ApiGateway records"):
        run("syncroutes")


def test_syncroutes_prune_and_no_prune(ws_gateway, aws):
    run("syncroutes")
    ws_gateway.refresh_from_db()
    target = f"integrations/{ws_gateway.integration_id}"  # AWS refuses a missing integration
    aws.create_route(ApiId=ws_gateway.api_id, RouteKey="stale.key", Target=target)
    out, _ = run("syncroutes", "--no-prune")
    assert "# route stale.key is not in the registry; kept (--prune deletes it)" in out
    assert "- route" not in out
    out, _ = run("syncroutes", "--prune", "--dry-run")
    assert "- route stale.key" in out
    out, _ = run("syncroutes")
    assert "- route stale.key" in out
    keys = {r["RouteKey"] for r in aws.get_routes(ApiId=ApiGateway.objects.get().api_id)["Items"]}
    assert "stale.key" not in keys and {"$connect", "$disconnect", "$default"} <= keys


def test_syncroutes_failure_names_the_call_and_the_next_run_finishes(ws_gateway, aws):
    aws.fail_when("create_stage", code="LimitExceededException", message="Too many stages")
    with pytest.raises(CommandError, match="Sync failed for: chat"):
        run("syncroutes")
    ws_gateway.refresh_from_db()
    assert "create_stage" in ws_gateway.last_error
    assert "LimitExceededException: Too many stages" in ws_gateway.last_error

    out, _ = run("syncroutes")
    assert out.splitlines()[1:-2] == ["+ stage production", "+ deployment stage production"]
    ws_gateway.refresh_from_db()
    assert ws_gateway.last_error == ""


def test_syncroutes_error_goes_to_stderr_and_other_gateways_still_sync(ws_gateway, aws):
    ApiGateway.objects.create(api_name="broken", target_base_endpoint="https://x.example/nowhere/")
    out = StringIO()
    err = StringIO()
    with pytest.raises(CommandError, match="Sync failed for: broken"):
        call_command("syncroutes", stdout=out, stderr=err)
    assert "no URL pattern matches '/nowhere/'" in err.getvalue()
    assert "Gateway chat: applied" in out.getvalue()


def test_a_new_route_reaches_aws_on_the_next_sync(ws_gateway, aws, ws_router):
    run("syncroutes")
    add_handler_route(ws_router, "room.leave")
    GatewayRoute.objects.create(api_gateway=ws_gateway, route_key="legacy.thing")
    out, _ = run("syncroutes")
    assert "+ route room.leave" in out and "+ route legacy.thing" in out


# -- createApiGateway -------------------------------------------------------------------------


def test_create_api_gateway_is_a_full_sync_and_can_be_rerun(ws_gateway, aws):
    aws.fail_when("create_route", lambda kwargs: kwargs["RouteKey"] == "$disconnect")
    with pytest.raises(CommandError, match=r"create_route failed.*'\+ route \$disconnect'"):
        run("createApiGateway", "--pk", str(ws_gateway.pk))
    out, _ = run("createApiGateway", "--pk", str(ws_gateway.pk))
    assert "+ route $disconnect" in out and "+ api chat" not in out
    ws_gateway.refresh_from_db()
    assert out.splitlines()[-1] == f"WebSocket URL: {ws_gateway.api_endpoint}/production"
    out, _ = run("createApiGateway", "--pk", str(ws_gateway.pk))
    assert "in sync, nothing to do" in out


def test_create_api_gateway_needs_a_known_pk(ws_gateway, aws):
    with pytest.raises(CommandError, match="No ApiGateway"):
        run("createApiGateway", "--pk", "4242")
    with pytest.raises(CommandError):
        run("createApiGateway")
    with pytest.raises(CommandError):
        run("createApiGateway", "--pk", "not-a-number")


# -- createCustomDomain ----------------------------------------------------------------------


def test_create_custom_domain_needs_the_api_first(ws_gateway, aws_moto):
    with pytest.raises(CommandError, match="create the API first"):
        run("createCustomDomain", "--pk", str(ws_gateway.pk))
    assert aws_moto.mutating_calls == []


def test_create_custom_domain_regional_tls12_mapping_and_cname_target(ws_gateway, aws_moto):
    run("syncroutes")
    aws_moto.reset()
    out, _ = run("createCustomDomain", "--pk", str(ws_gateway.pk))
    ws_gateway.refresh_from_db()
    domain = aws_moto.get_domain_name(DomainName="ws.example.com")
    [configuration] = domain["DomainNameConfigurations"]
    assert configuration["EndpointType"] == "REGIONAL"
    assert configuration["SecurityPolicy"] == "TLS_1_2"
    assert configuration["CertificateArn"] == ws_gateway.certificate_arn
    [mapping] = aws_moto.get_api_mappings(DomainName="ws.example.com")["Items"]
    assert (mapping["ApiId"], mapping["Stage"]) == (ws_gateway.api_id, "production")
    assert ws_gateway.api_mapping_id == mapping["ApiMappingId"]
    assert ws_gateway.api_gateway_domain_name == configuration["ApiGatewayDomainName"]
    assert ws_gateway.custom_domain_created
    assert ws_gateway.provisioning_status == ApiGateway.ProvisioningStatus.MAPPED
    assert out.splitlines() == [
        "+ domain name ws.example.com (REGIONAL, TLS 1.2)",
        f"+ api mapping ws.example.com -> {ws_gateway.api_id}/production",
        f"# point a CNAME for ws.example.com at {ws_gateway.api_gateway_domain_name}",
    ]

    aws_moto.reset()
    out, _ = run("createCustomDomain", "--pk", str(ws_gateway.pk))
    assert out.splitlines()[:2] == [
        "= domain name ws.example.com exists",
        f"= api mapping ws.example.com -> {ws_gateway.api_id}/production",
    ]
    assert aws_moto.mutating_calls == []


def test_create_custom_domain_writes_the_route53_alias(ws_gateway, aws_moto):
    zone = aws_moto.route53.create_hosted_zone(Name="example.com", CallerReference="t")[
        "HostedZone"
    ]
    ws_gateway.hosted_zone_id = zone["Id"].removeprefix("/hostedzone/")
    ws_gateway.save()
    run("syncroutes")
    out, _ = run("createCustomDomain", "--pk", str(ws_gateway.pk))
    ws_gateway.refresh_from_db()
    assert f"~ dns A ws.example.com -> {ws_gateway.api_gateway_domain_name}" in out
    records = aws_moto.route53.list_resource_record_sets(HostedZoneId=zone["Id"])[
        "ResourceRecordSets"
    ]
    [alias] = [r for r in records if r["Type"] == "A"]
    assert alias["Name"].rstrip(".") == "ws.example.com"
    assert alias["AliasTarget"]["DNSName"].rstrip(".") == ws_gateway.api_gateway_domain_name


def test_create_custom_domain_refuses_a_domain_mapped_elsewhere(ws_gateway, aws_moto):
    run("syncroutes")
    other = aws_moto.create_api(
        Name="other", ProtocolType="WEBSOCKET", RouteSelectionExpression="$x"
    )
    aws_moto.create_stage(ApiId=other["ApiId"], StageName="live")
    aws_moto.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": "arn:x", "EndpointType": "REGIONAL"}],
    )
    aws_moto.create_api_mapping(ApiId=other["ApiId"], DomainName="ws.example.com", Stage="live")
    with pytest.raises(CommandError, match=f"already mapped to API {other['ApiId']} stage live"):
        run("createCustomDomain", "--pk", str(ws_gateway.pk))


@pytest.mark.parametrize(
    ("field", "match"),
    [("domain_name", "domain_name is blank"), ("certificate_arn", "certificate_arn is blank")],
)
def test_create_custom_domain_needs_domain_and_certificate(ws_gateway, aws_moto, field, match):
    setattr(ws_gateway, field, "")
    ws_gateway.save()
    with pytest.raises(CommandError, match=match):
        run("createCustomDomain", "--pk", str(ws_gateway.pk))


# -- IAM policy --------------------------------------------------------------------------------


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _arn_of_call(operation: str, kwargs: dict) -> tuple[str, str]:
    """The IAM action and resource AWS checks for one apigatewayv2 call."""
    model = botocore.session.get_session().get_service_model("apigatewayv2")
    op = model.operation_model(_pascal(operation))
    path = op.http["requestUri"].split("?", 1)[0].removeprefix("/v2")
    for member, shape in op.input_shape.members.items():
        if shape.serialization.get("location") == "uri":
            path = path.replace("{" + shape.serialization["name"] + "}", str(kwargs[member]))
    return f"apigateway:{op.http['method']}", f"arn:aws:apigateway:{REGION}::{path}"


def _allowed(policy: dict, action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if statement["Action"] == action and any(fnmatchcase(resource, r) for r in resources):
            return True
    return False


def test_iam_policy_covers_exactly_the_calls_the_library_makes(ws_gateway, aws_moto, monkeypatch):
    policy_before = json.loads(run("syncroutes", "--print-iam-policy")[0])
    assert aws_moto.mutating_calls == []
    library_calls = {"before": list(aws_moto.calls), "after": []}

    def library_run(phase: str, *args: str) -> None:
        aws_moto.reset()
        run(*args)
        library_calls[phase].extend(aws_moto.calls)

    # Exercise every kind of change: create, update, prune, models, rows, drift.
    library_run("before", "syncroutes")
    gateway = ApiGateway.objects.get()
    gateway.api_description = "changed"
    gateway.target_base_endpoint = "https://new.example.com/ws/"
    gateway.save()
    row = GatewayRoute.objects.create(
        api_gateway=gateway, route_key="legacy", integration_url="https://old.example.com/x/"
    )
    router = Router()
    add_handler_route(router, "ping")
    add_handler_route(router, "room.kick", schema={"type": "object"}, gateway_validation=True)
    mount_router(monkeypatch, router)
    library_run("after", "syncroutes")

    row.delete()
    router = Router()
    add_handler_route(router, "ping")
    add_handler_route(router, "room.kick", schema={"type": "array"}, gateway_validation=True)
    mount_router(monkeypatch, router)
    routes = {r["RouteKey"]: r for r in aws_moto.get_routes(ApiId=gateway.api_id)["Items"]}
    aws_moto.update_route(
        ApiId=gateway.api_id, RouteId=routes["ping"]["RouteId"], Target="integrations/x"
    )
    library_run("after", "syncroutes")
    library_run("after", "createCustomDomain", "--pk", str(gateway.pk))

    every_call = library_calls["before"] + library_calls["after"]
    operations = {_pascal(name) for name, _ in every_call}
    domain = set(iam.DOMAIN_OPERATIONS)
    assert operations - domain == set(iam.SYNC_OPERATIONS)
    assert operations & domain == domain

    gateway.refresh_from_db()
    policy_after = iam.iam_policy(gateway, account_id=ACCOUNT)
    for phase, policy in (("before", policy_before), ("after", policy_after)):
        for name, kwargs in library_calls[phase]:
            action, resource = _arn_of_call(name, kwargs)
            assert _allowed(policy, action, resource), (phase, name, resource)
    # Scoped to the API once it exists: no API creation, nothing on other APIs.
    assert not _allowed(policy_after, "apigateway:POST", f"arn:aws:apigateway:{REGION}::/apis")
    assert not _allowed(
        policy_after, "apigateway:DELETE", f"arn:aws:apigateway:{REGION}::/apis/other/routes/r"
    )
    [manage] = [s for s in policy_after["Statement"] if s["Sid"] == "ManageConnections"]
    assert manage["Action"] == "execute-api:ManageConnections"
    assert manage["Resource"] == [
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{gateway.api_id}/production/POST/@connections/*",
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{gateway.api_id}/production/DELETE/@connections/*",
    ]


def test_print_iam_policy_uses_the_given_account_and_the_hosted_zone(ws_gateway, aws_moto):
    ws_gateway.hosted_zone_id = "/hostedzone/Z123"
    ws_gateway.save()
    policy = json.loads(run("syncroutes", "--print-iam-policy", "--account", "210987654321")[0])
    assert aws_moto.sts.calls == []
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["CustomDomainDns"]["Resource"] == "arn:aws:route53:::hostedzone/Z123"
    assert "210987654321" in statements["ManageConnections"]["Resource"][0]
    assert (
        f"arn:aws:apigateway:{REGION}::/domainnames/ws.example.com"
        in (statements["ApiGatewayGet"]["Resource"])
    )


@pytest.mark.parametrize("account", ["12", "not-an-account", "1234567890123"])
def test_print_iam_policy_refuses_a_bad_account(ws_gateway, aws, account):
    with pytest.raises(CommandError, match="12-digit"):
        run("syncroutes", "--print-iam-policy", "--account", account)


def test_iam_policy_partition_and_missing_region(ws_gateway, settings):
    ws_gateway.region = "cn-north-1"
    policy = iam.iam_policy(ws_gateway, account_id=ACCOUNT)
    assert policy["Statement"][0]["Resource"][0].startswith("arn:aws-cn:apigateway:cn-north-1::")
    ws_gateway.region = ""
    settings.WS_ROUTES = {**settings.WS_ROUTES, "REGION": None}
    with pytest.raises(deploy.PlanError, match="no region"):
        iam.iam_policy(ws_gateway, account_id=ACCOUNT)
