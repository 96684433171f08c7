"""``syncroutes --emit cloudformation``: the template is the desired state, linted by cfn-lint,
deterministic, secret-free; what cannot be expressed is refused naming the route; the
``check --deploy`` drift warning (docs/infrastructure-as-code.md)."""

from __future__ import annotations

import json
import os
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_all
from django.core.management import CommandError, call_command
from django.db import connection

from example_project.chat import ws as chat_ws
from tests.deploy_support import add_handler_route, build_router
from ws_routes.deploy import PlanError, desired_state
from ws_routes.deploy.cloudformation import (
    MAX_MODEL_SCHEMA_CHARS,
    SECRET_PARAMETER,
    emit_template,
    logical_id,
)
from ws_routes.management.emit import (
    TEMPLATE_DRIFT_CHECK_ID,
    TEMPLATE_FILE_ERROR_ID,
    check_template_file,
)
from ws_routes.models import ApiGateway
from ws_routes.routing import Router

pytest_plugins = ["tests.deploy_fixtures"]

SECRET = "test-gateway-secret-0123456789-abcdefghijklmnop"  # tests/settings.py


def problems(text: str) -> list[str]:
    """cfn-lint's errors and warnings (informational notes aside)."""
    return [str(m) for m in lint_all(text) if m.rule.id[:1] in "EW"]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def resources(body: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in body["Resources"].items() if v["Type"] == f"AWS::ApiGatewayV2::{kind}"}


@pytest.fixture
def chat_gateway(db: Any) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="example-chat",
        target_base_endpoint="https://chat.example.com/ws/",
        region="us-east-1",
        stage_name="demo",
    )


@pytest.fixture
def full_gateway(ws_gateway: ApiGateway, ws_router: Router) -> ApiGateway:
    """Every feature: models, a custom domain with DNS, tags, a row routed elsewhere."""
    ws_gateway.hosted_zone_id = "/hostedzone/Z0123456789ABC"
    ws_gateway.tags = {"team": "chat", "cost-centre": "42"}
    ws_gateway.stage_description = "live"
    ws_gateway.save()
    ws_gateway.routes.create(route_key="billing.hook", integration_url="https://b.example.com/h/")
    ws_gateway.routes.create(route_key="extra.row")
    return ws_gateway


# -- valid by AWS's linter ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_the_example_chats_template_lints_clean(chat_gateway, fmt):
    text = emit_template(chat_gateway, chat_ws.router).render(fmt)
    assert problems(text) == []
    keys = {r["Properties"]["RouteKey"] for r in resources(json_of(text, fmt), "Route").values()}
    assert {"$connect", "$disconnect", "$default", "chat.send", "chat.who"} <= keys


EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "cloudformation-example.yaml"


def test_the_docs_example_is_the_example_chats_template(chat_gateway):
    """docs/cloudformation-example.yaml is current (``WRITE_CFN_EXAMPLE=1`` rewrites it)."""
    text = emit_template(chat_gateway, chat_ws.router).render("yaml")
    if os.environ.get("WRITE_CFN_EXAMPLE") == "1":
        EXAMPLE.write_text(text)
    assert EXAMPLE.read_text() == text, "rerun this test with WRITE_CFN_EXAMPLE=1"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_gateway_with_every_feature_lints_clean(full_gateway, fmt):
    text = emit_template(full_gateway).render(fmt)
    assert problems(text) == []
    body = json_of(text, fmt)
    for kind in ("Api", "Model", "Stage", "DomainName", "ApiMapping", "Deployment"):
        assert resources(body, kind), kind
    assert body["Resources"]["DnsRecord"]["Properties"]["HostedZoneId"] == "Z0123456789ABC"


FUNCTION = "arn:aws:lambda:eu-west-2:123456789012:function:chat-backend"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_lambda_gateway_lints_clean_with_aws_proxy_and_its_invoke_permission(full_gateway, fmt):
    full_gateway.target_lambda_arn = FUNCTION
    full_gateway.save()
    text = emit_template(full_gateway).render(fmt)
    assert problems(text) == []
    body = json_of(text, fmt)
    integrations = resources(body, "Integration")
    kinds = {i["Properties"]["IntegrationType"] for i in integrations.values()}
    assert kinds == {"AWS_PROXY", "HTTP_PROXY"}  # the row routed to its own URL stays HTTP
    for integration in integrations.values():
        properties = integration["Properties"]
        if properties["IntegrationType"] == "AWS_PROXY":
            assert FUNCTION in properties["IntegrationUri"]
            assert "RequestParameters" not in properties  # no secret sent to a Lambda
    permission = body["Resources"]["InvokePermission"]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert permission["Properties"]["FunctionName"] == FUNCTION
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["SourceArn"]["Fn::Sub"].endswith(":${Api}/*")


def test_a_lambda_only_gateway_has_no_secret_parameter(ws_gateway):
    ws_gateway.target_lambda_arn = FUNCTION
    ws_gateway.save()
    text = emit_template(ws_gateway).render("json")
    assert problems(text) == []
    assert "Parameters" not in json.loads(text) and "GatewaySecret" not in text


def test_the_linter_does_find_a_broken_template(full_gateway):
    body = emit_template(full_gateway).body
    route = next(iter(resources(body, "Route").values()))
    del route["Properties"]["RouteKey"]
    assert any("RouteKey" in p for p in problems(json.dumps(body)))


def json_of(text: str, fmt: str) -> dict[str, Any]:
    return json.loads(text) if fmt == "json" else yaml.safe_load(text)


def test_yaml_and_json_say_the_same(full_gateway):
    emitted = emit_template(full_gateway)
    assert yaml.safe_load(emitted.render("yaml")) == json.loads(emitted.render("json"))


# -- the desired state, exactly ------------------------------------------------------------------


def test_the_template_is_the_desired_state(full_gateway):
    body = emit_template(full_gateway).body
    desired = desired_state(full_gateway)
    routes = {r["Properties"]["RouteKey"]: r for r in resources(body, "Route").values()}
    assert set(routes) == set(desired.routes)
    integrations = resources(body, "Integration")
    for role, integration in desired.integrations.items():
        properties = integrations[logical_id("Integration", role)]["Properties"]
        wanted = {**integration.aws_arguments(), "ApiId": {"Ref": "Api"}}
        secret_key = "integration.request.header.X-Ws-Secret"
        assert properties["RequestParameters"].pop(secret_key) == {
            "Fn::Sub": f"'${{{SECRET_PARAMETER}}}'"
        }
        wanted["RequestParameters"].pop(secret_key)
        assert properties == wanted
        assert properties["IntegrationType"] == "HTTP_PROXY"
    connect = routes["$connect"]["Properties"]
    assert connect["RequestParameters"] == {
        "route.request.querystring.token": {"Required": False},
        "route.request.querystring.channel": {"Required": False},
    }
    assert connect["Target"] == {
        "Fn::Sub": f"integrations/${{{logical_id('Integration', 'connect')}}}"
    }
    billing = routes["billing.hook"]["Properties"]["Target"]["Fn::Sub"]
    assert billing == f"integrations/${{{logical_id('Integration', 'route:billing.hook')}}}"
    join = routes["room.join"]
    model = desired.routes["room.join"].model
    assert join["Properties"]["RequestModels"] == {"$default": model.name}
    [model_resource] = resources(body, "Model").values()
    assert model_resource["Properties"]["Schema"] == model.schema_text
    assert join["DependsOn"] == [logical_id("Model", "room.join")]
    responses = {
        r["Properties"]["RouteId"]["Ref"] for r in resources(body, "RouteResponse").values()
    }
    two_way = {logical_id("Route", k) for k, r in desired.routes.items() if r.two_way}
    assert responses == two_way and logical_id("Route", "$disconnect") not in responses
    [deployment_id] = resources(body, "Deployment")
    depends = set(body["Resources"][deployment_id]["DependsOn"])
    assert {logical_id("Route", k) for k in desired.routes} <= depends
    stage = body["Resources"]["Stage"]["Properties"]
    assert stage == {
        "ApiId": {"Ref": "Api"},
        "StageName": "production",
        "Description": "live",
        "DeploymentId": {"Ref": deployment_id},
    }


def test_the_sender_policy_and_outputs(full_gateway):
    body = emit_template(full_gateway).body
    [statement] = body["Resources"]["SenderPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:ManageConnections"
    assert [r["Fn::Sub"] for r in statement["Resource"]] == [
        f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{Api}}/"
        f"${{Stage}}/{method}/@connections/*"
        for method in ("POST", "DELETE")
    ]
    outputs = body["Outputs"]
    assert outputs["WebSocketUrl"]["Value"] == {"Fn::Sub": "${Api.ApiEndpoint}/${Stage}"}
    assert outputs["ManagementEndpoint"]["Value"]["Fn::Sub"].startswith("https://${Api}.execute")
    assert outputs["CustomDomainUrl"]["Value"] == "wss://ws.example.com"


def test_blank_optional_api_properties_are_left_out(full_gateway):
    ApiGateway.objects.filter(pk=full_gateway.pk).update(
        api_description="", api_key_selection_expression=""
    )
    full_gateway.refresh_from_db()
    text = emit_template(full_gateway).render("json")
    properties = json.loads(text)["Resources"]["Api"]["Properties"]
    assert "Description" not in properties and "ApiKeySelectionExpression" not in properties
    assert properties["RouteSelectionExpression"] == "$request.body.action"


def test_a_changed_registry_makes_a_new_deployment(full_gateway, ws_router):
    before = set(resources(emit_template(full_gateway).body, "Deployment"))
    add_handler_route(ws_router, "new.route")
    after = set(resources(emit_template(full_gateway).body, "Deployment"))
    assert before and after and before != after


# -- deterministic, secret-free --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_same_registry_same_bytes(full_gateway, monkeypatch, fmt):
    first = emit_template(full_gateway).render(fmt)
    assert emit_template(full_gateway).render(fmt) == first
    # The same routes registered in another order: still the same bytes.
    reordered = Router()
    for key, route in reversed(list(build_router().routes.items())):
        reordered.add_route(
            key, route.handler, schema=route.schema, gateway_validation=route.gateway_validation
        )
    assert emit_template(full_gateway, reordered).render(fmt) == first


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_the_secret_never_reaches_the_file(full_gateway, settings, fmt):
    text = emit_template(full_gateway).render(fmt)
    assert SECRET not in text and "Placeholder" not in text
    parameter = json_of(text, fmt)["Parameters"][SECRET_PARAMETER]
    assert parameter["NoEcho"] is True and parameter["MinLength"] == 32
    # No secret configured at all (a CI job): the emit needs none, and the bytes are the same.
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}
    assert emit_template(full_gateway).render(fmt) == text


# -- bad input: refused at emit, naming the route -------------------------------------------------


def test_a_model_schema_over_awss_size_is_refused_naming_the_route(full_gateway, ws_router):
    big = {"type": "object", "description": "x" * MAX_MODEL_SCHEMA_CHARS}
    add_handler_route(ws_router, "huge.body", schema=big, gateway_validation=True)
    with pytest.raises(PlanError, match=r"Route 'huge.body': its model schema is \d+ characters"):
        emit_template(full_gateway)
    with pytest.raises(CommandError, match="huge.body"):
        run("syncroutes", "--emit", "cloudformation")


def test_too_many_routes_for_one_template_are_refused(full_gateway, ws_router):
    for n in range(250):
        add_handler_route(ws_router, f"r{n}")
    with pytest.raises(PlanError, match=r"needs \d+ resources .* at most 500"):
        emit_template(full_gateway)


def test_a_template_over_cloudformations_size_is_refused_naming_the_largest(
    full_gateway, ws_router
):
    for n in range(40):
        schema = {"type": "object", "description": "y" * 30000}
        add_handler_route(ws_router, f"big.{n}", schema=schema, gateway_validation=True)
    with pytest.raises(PlanError, match=r"bytes; CloudFormation takes at most 1000000.*route 'big"):
        emit_template(full_gateway)


def test_a_template_needing_s3_is_emitted_with_a_warning(full_gateway, ws_router):
    schema = {"type": "object", "description": "z" * 25000}
    add_handler_route(ws_router, "mid.one", schema=schema, gateway_validation=True)
    add_handler_route(ws_router, "mid.two", schema=schema, gateway_validation=True)
    emitted = emit_template(full_gateway)
    assert any("only from S3" in w for w in emitted.warnings)
    assert problems(emitted.render("json")) == []
    _, err = run("syncroutes", "--emit", "cloudformation")
    assert "only from S3" in err


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("stage_name", "v1.0", "not a WebSocket stage name"),
        ("certificate_arn", "", "has no certificate_arn"),
        ("api_name", "n" * 129, "Name is 129 characters"),
        ("api_description", "d" * 1025, "Description is 1025 characters"),
    ],
)
def test_a_gateway_aws_would_refuse_is_refused(full_gateway, field, value, match):
    # On the instance, not the row: PostgreSQL's varchar columns refuse the overlong values
    # themselves (SQLite stores them, and a row the emit reads may come from either).
    setattr(full_gateway, field, value)
    with pytest.raises(PlanError, match=match):
        emit_template(full_gateway)


@pytest.mark.skipif(
    connection.vendor == "postgresql",
    reason="PostgreSQL's varchar(128) refuses such a row itself; SQLite stores it",
)
def test_a_route_key_over_awss_limit_is_refused_naming_it(full_gateway):
    full_gateway.routes.create(route_key="k" * 200)
    with pytest.raises(CommandError, match="k{200}"):
        run("syncroutes", "--emit", "cloudformation")


# -- the command ------------------------------------------------------------------------------


def test_emit_prints_the_template(full_gateway):
    out, _ = run("syncroutes", "--emit", "cloudformation")
    assert out == emit_template(full_gateway).render("json")
    out, _ = run("syncroutes", "--emit", "cloudformation", "--format", "yaml")
    assert out == emit_template(full_gateway).render("yaml")


def test_emit_writes_the_file_in_the_format_its_name_says(full_gateway, tmp_path):
    path = tmp_path / "infra" / "chat.template.yml"
    out, _ = run("syncroutes", "--emit", "cloudformation", "--output", str(path))
    assert f"wrote {path}" in out
    assert path.read_text() == emit_template(full_gateway).render("yaml")


def test_check_passes_on_a_current_file_and_fails_with_a_diff(full_gateway, ws_router, tmp_path):
    path = tmp_path / "chat.json"
    run("syncroutes", "--emit", "cloudformation", "--output", str(path))
    written = path.read_text()
    out, _ = run("syncroutes", "--emit", "cloudformation", "--output", str(path), "--check")
    assert "up to date" in out
    add_handler_route(ws_router, "late.route")
    err = StringIO()
    out = StringIO()
    with pytest.raises(CommandError, match="Template out of date for chat"):
        call_command(
            "syncroutes",
            "--emit",
            "cloudformation",
            "--output",
            str(path),
            "--check",
            stdout=out,
            stderr=err,
        )
    added = [line for line in out.getvalue().splitlines() if line.startswith("+")]
    assert any('"RouteKey": "late.route"' in line for line in added)
    assert out.getvalue().startswith(f"--- {path} (on disk)")
    assert path.read_text() == written  # --check writes nothing


def test_check_of_a_missing_file_fails(full_gateway, tmp_path):
    with pytest.raises(CommandError, match="out of date"):
        run(
            "syncroutes",
            "--emit",
            "cloudformation",
            "--output",
            str(tmp_path / "no.json"),
            "--check",
        )


def test_a_failed_check_is_exit_status_1(full_gateway, tmp_path):
    """manage.py turns a CommandError into ``sys.exit(error.returncode)``: 1 for a CI step."""
    path = tmp_path / "chat.yaml"
    args = ["syncroutes", "--emit", "cloudformation", "--output", str(path)]
    run(*args)
    run(*args, "--check")
    path.write_text(path.read_text().replace("chat.send", "chat.sent"))
    with pytest.raises(CommandError) as failed:
        run(*args, "--check")
    assert failed.value.returncode == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--output", "x.json"], "go with --emit"),
        (["--check"], "go with --emit"),
        (["--emit", "cloudformation", "--check"], "give it with --output"),
        (["--emit", "terraform"], "invalid choice"),
        (["--emit", "cloudformation", "--format", "toml"], "invalid choice"),
    ],
)
def test_emit_refuses_bad_options(full_gateway, args, match):
    with pytest.raises(CommandError, match=match):
        run("syncroutes", *args)


def test_several_gateways_need_a_gateway_placeholder(full_gateway, tmp_path):
    ApiGateway.objects.create(
        api_name="second", target_base_endpoint="https://www.example.com/ws/", region="eu-west-2"
    )
    with pytest.raises(CommandError, match="2 gateways"):
        run("syncroutes", "--emit", "cloudformation", "--output", str(tmp_path / "one.json"))
    run("syncroutes", "--emit", "cloudformation", "--output", str(tmp_path / "{gateway}.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.json", "second.json"]
    assert json.loads((tmp_path / "second.json").read_text())["Metadata"]["ws_routes"] == {
        "Gateway": "second",
        "Version": 1,
    }


def test_emit_errors_are_command_errors_naming_the_file(full_gateway, tmp_path):
    with pytest.raises(CommandError, match="cannot be written"):
        run("syncroutes", "--emit", "cloudformation", "--output", str(tmp_path))  # a directory
    binary = tmp_path / "chat.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CommandError, match="cannot be read"):
        run("syncroutes", "--emit", "cloudformation", "--output", str(binary), "--check")
    binary.write_bytes(b" " * 2_000_001)
    with pytest.raises(CommandError, match="larger than"):
        run("syncroutes", "--emit", "cloudformation", "--output", str(binary), "--check")


def test_one_gateway_that_cannot_be_emitted_writes_no_file(full_gateway, tmp_path):
    ApiGateway.objects.create(api_name="broken", target_base_endpoint="", region="eu-west-2")
    with pytest.raises(CommandError, match="Gateway 'broken': .*target_base_endpoint is blank"):
        run("syncroutes", "--emit", "cloudformation", "--output", str(tmp_path / "{gateway}.json"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "sp ace"])
def test_a_gateway_name_never_points_the_file_elsewhere(full_gateway, settings, tmp_path, name):
    ApiGateway.objects.filter(pk=full_gateway.pk).update(api_name=name)
    pattern = str(tmp_path / "out" / "{gateway}.json")
    with pytest.raises(CommandError, match="cannot stand for {gateway}"):
        run("syncroutes", "--emit", "cloudformation", "--output", pattern)
    assert not (tmp_path / "escape.json").exists() and not (tmp_path / "out").exists()
    use_template_file(settings, pattern)
    [error] = check_template_file()
    assert error.id == TEMPLATE_FILE_ERROR_ID and "cannot stand for" in error.msg


# -- check --deploy: the template file named in settings ------------------------------------------


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def use_template_file(settings: Any, path: Any) -> None:
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TEMPLATE_FILE": path}


def test_no_template_file_no_check(full_gateway):
    assert check_template_file() == []


@pytest.mark.parametrize("name", ["chat.json", "chat.yaml"])
def test_the_check_warns_when_the_registry_moved_on(
    full_gateway, ws_router, settings, tmp_path, name
):
    path = tmp_path / name
    run("syncroutes", "--emit", "cloudformation", "--output", str(path))
    use_template_file(settings, str(path))
    assert check_template_file() == []
    add_handler_route(ws_router, "late.route")
    [warning] = check_template_file()
    assert warning.id == TEMPLATE_DRIFT_CHECK_ID and "no longer matches" in warning.msg
    assert warning.obj == full_gateway


def test_the_check_runs_with_check_deploy(full_gateway, ws_router, settings, tmp_path):
    from django.core.checks import run_checks

    path = tmp_path / "chat.json"
    run("syncroutes", "--emit", "cloudformation", "--output", str(path))
    use_template_file(settings, path)  # a Path works too
    add_handler_route(ws_router, "late.route")
    assert TEMPLATE_DRIFT_CHECK_ID in ids(run_checks(include_deployment_checks=True))
    assert TEMPLATE_DRIFT_CHECK_ID not in ids(run_checks(include_deployment_checks=False))


def test_the_check_with_one_file_per_gateway(full_gateway, ws_router, settings, tmp_path):
    run("syncroutes", "--emit", "cloudformation", "--output", str(tmp_path / "{gateway}.json"))
    use_template_file(settings, str(tmp_path / "{gateway}.json"))
    assert check_template_file() == []
    (tmp_path / "chat.json").unlink()
    [error] = check_template_file()
    assert error.id == TEMPLATE_FILE_ERROR_ID and "cannot be read" in error.msg


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{}", "no Metadata.ws_routes.Gateway"),
        (b'{"Metadata": {"ws_routes": {"Gateway": 7}}}', "no Metadata.ws_routes.Gateway"),
        (b"[1, 2]", "no Metadata.ws_routes.Gateway"),
        (b"Resources:\n  Api: {}\n", "neither JSON nor a YAML file"),
        (b"\xff\xfe not text", "cannot be read"),
        (b"[" * 100000, "neither JSON"),
        (b'{"Metadata": {"ws_routes": {"Gateway": "nobody"}}}', "no ApiGateway row"),
        (b'# ws_routes template of gateway "chat": hand-edited\n', "first line was edited"),
    ],
)
def test_a_file_that_is_not_ours_is_an_error(full_gateway, settings, tmp_path, content, match):
    path = tmp_path / "template"
    path.write_bytes(content)
    use_template_file(settings, str(path))
    [error] = check_template_file()
    assert error.id == TEMPLATE_FILE_ERROR_ID
    assert match in error.msg


def test_another_gateways_template_is_an_error(full_gateway, settings, tmp_path):
    other = ApiGateway.objects.create(
        api_name="other", target_base_endpoint="https://www.example.com/ws/", region="eu-west-2"
    )
    run(
        "syncroutes",
        "--emit",
        "cloudformation",
        "--gateway",
        "chat",
        "--output",
        str(tmp_path / "other.json"),
    )
    use_template_file(settings, str(tmp_path / "{gateway}.json"))
    (tmp_path / "chat.json").write_text((tmp_path / "other.json").read_text())
    messages = check_template_file()
    assert TEMPLATE_FILE_ERROR_ID in ids(messages)
    assert other.api_name


def test_a_huge_or_missing_file_is_an_error(full_gateway, settings, tmp_path):
    use_template_file(settings, str(tmp_path / "missing.json"))
    assert ids(check_template_file()) == [TEMPLATE_FILE_ERROR_ID]
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * 2_000_001)
    use_template_file(settings, str(huge))
    [error] = check_template_file()
    assert "larger than" in error.msg


@pytest.mark.parametrize("value", [42, "", ["a.json"]])
def test_a_template_file_setting_that_is_not_a_path_is_an_error(db, settings, value):
    use_template_file(settings, value)
    assert ids(check_template_file()) == [TEMPLATE_FILE_ERROR_ID]


def test_an_unemittable_registry_is_a_warning_naming_why(full_gateway, settings, tmp_path):
    path = tmp_path / "chat.json"
    run("syncroutes", "--emit", "cloudformation", "--output", str(path))
    use_template_file(settings, str(path))
    ApiGateway.objects.filter(pk=full_gateway.pk).update(stage_name="v1.0")
    [warning] = check_template_file()
    assert warning.id == TEMPLATE_DRIFT_CHECK_ID and "not a WebSocket stage name" in warning.msg


def test_the_setting_is_declared():
    from ws_routes.conf import DEFAULTS

    assert DEFAULTS["TEMPLATE_FILE"] is None
