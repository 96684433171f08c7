"""``runwsgateway --template FILE``: an emitted template loads as syncroutes would deploy it, and
anything else is refused naming the resource and property (docs/local-gateway.md).

The example chat end to end through its template: tests/e2e/test_template_chat.py.
"""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from example_project.chat import ws as chat_ws
from ws_routes.deploy import sync_gateway
from ws_routes.deploy.cloudformation import SECRET_PARAMETER, emit_template, logical_id
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.control_plane import ControlPlaneState
from ws_routes.local_gateway.control_plane.operations import Operations
from ws_routes.local_gateway.provision import local_client
from ws_routes.local_gateway.template import load_template
from ws_routes.local_gateway.template_input import (
    MAX_TEMPLATE_FILE_BYTES,
    TemplateError,
    parse_template,
    read_template,
)
from ws_routes.management.commands.runwsgateway import Command
from ws_routes.models import ApiGateway
from ws_routes.routing import Router

pytest_plugins = ["tests.deploy_fixtures"]

SECRET = "test-gateway-secret-0123456789-abcdefghijklmnop"  # tests/settings.py
PARAMETERS = {SECRET_PARAMETER: SECRET}
ROUTE = logical_id("Route", "chat.send")


@pytest.fixture
def chat_body(db: Any) -> dict[str, Any]:
    row = ApiGateway.objects.create(
        api_name="example-chat",
        target_base_endpoint="https://chat.example.com/ws/",
        region="us-east-1",
        stage_name="demo",
    )
    return emit_template(row, chat_ws.router).body


def fresh() -> Operations:
    return Operations(ControlPlaneState(), lambda: "ws://127.0.0.1:1")


def load(body: dict[str, Any], parameters: dict[str, str] | None = None, **options: Any) -> Any:
    ops = fresh()
    try:
        return load_template(ops, body, PARAMETERS if parameters is None else parameters, **options)
    finally:
        load.ops = ops  # type: ignore[attr-defined]


def refused(body: dict[str, Any], match: str, **options: Any) -> str:
    with pytest.raises(TemplateError, match=match) as error:
        load(body, **options)
    assert load.ops.state.apis == {}  # type: ignore[attr-defined]  # nothing half-loaded
    return str(error.value)


# -- what loads is what syncroutes deploys ---------------------------------------------------------


def normalized(apis: dict[str, Any], stage: str) -> dict[str, Any]:
    """The snapshot served on ``stage``, with every generated id and date replaced by names."""
    [record] = apis.values()
    snapshot = record["snapshots"][record["stages"][stage]["deploymentId"]]
    names = {i: v["description"] for i, v in snapshot["integrations"].items()}
    keys = {i: v["routeKey"] for i, v in snapshot["routes"].items()}

    def without(item: dict[str, Any], *drop: str) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in {*drop, "createdDate"}}

    routes = {}
    for route in snapshot["routes"].values():
        target = route["target"].removeprefix("integrations/")
        routes[route["routeKey"]] = {**without(route, "routeId"), "target": names[target]}
    return {
        "api": without(snapshot["api"], "apiId"),
        "integrations": {
            names[i]: without(v, "integrationId") for i, v in snapshot["integrations"].items()
        },
        "routes": routes,
        "models": {m["name"]: without(m, "modelId") for m in snapshot["models"].values()},
        "routeResponses": {
            keys[route_id]: sorted(json.dumps(without(r, "routeResponseId")) for r in rs.values())
            for route_id, rs in snapshot["routeResponses"].items()
            if rs
        },
        "stage": without(record["stages"][stage], "deploymentId", "lastUpdatedDate"),
    }


def test_the_loaded_template_is_what_syncroutes_deploys(ws_gateway, ws_router: Router):
    ws_gateway.domain_name = ""  # the local control plane has no custom domains
    ws_gateway.stage_description = "live"
    ws_gateway.save()
    ws_gateway.routes.create(route_key="extra.row")
    with LocalGateway() as synced:
        client = local_client(synced.control_plane_endpoint, synced.management_credentials.first())
        sync_gateway(ws_gateway, client=client)
        expected = normalized(synced.server.control_plane.state.apis, "production")
    loaded = load(emit_template(ws_gateway).body)
    assert loaded.stages == ["production"]
    actual = normalized(load.ops.state.apis, "production")  # type: ignore[attr-defined]
    assert actual["models"] and actual["routeResponses"]  # the features are exercised
    assert actual["routes"]["room.join"]["requestModels"]
    assert actual == expected


def test_the_example_chats_template_loads_from_json_and_yaml(chat_body, tmp_path):
    for fmt in ("json", "yaml"):
        path = tmp_path / f"chat.{fmt}"
        path.write_text(emit_template(ApiGateway.objects.get(), chat_ws.router).render(fmt))
        loaded = load(read_template(path))
        assert loaded.stages == ["demo"]
        assert loaded.notes == [
            "skipped SenderPolicy (AWS::IAM::ManagedPolicy): not emulated by the local gateway"
        ]
        [record] = load.ops.state.apis.values()  # type: ignore[attr-defined]
        mapped = [i["requestParameters"] for i in record["integrations"].values()]
        assert {m["integration.request.header.X-Ws-Secret"] for m in mapped} == {f"'{SECRET}'"}


def test_the_integration_origin_replaces_scheme_and_host_only(chat_body):
    load(chat_body, integration_origin="http://127.0.0.1:8000")
    [record] = load.ops.state.apis.values()  # type: ignore[attr-defined]
    uris = {i["integrationUri"] for i in record["integrations"].values()}
    assert uris == {"http://127.0.0.1:8000/ws/"}


@pytest.mark.parametrize("origin", ["ftp://x", "http://h/path", "http://u@h", "not a url"])
def test_a_bad_integration_origin_is_refused(chat_body, origin):
    refused(chat_body, "--integration-origin", integration_origin=origin)


def test_short_tags_are_read_as_the_long_form(chat_body):
    text = json.dumps(chat_body)  # a YAML document (JSON is YAML), with short tags put in
    body = parse_template("# yaml\n" + text.replace('{"Ref": "Api"}', "!Ref Api"))
    assert json.dumps(body, sort_keys=True) == json.dumps(chat_body, sort_keys=True)
    assert parse_template("a: !GetAtt Api.ApiId\nb: !Sub x") == {
        "a": {"Fn::GetAtt": ["Api", "ApiId"]},
        "b": {"Fn::Sub": "x"},
    }
    assert load(body).stages == ["demo"]


# -- hand-edited templates ------------------------------------------------------------------------


def edited(body: dict[str, Any], logical: str, **properties: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["Resources"][logical]["Properties"].update(properties)
    return body


def test_an_unknown_intrinsic_is_refused_by_name(chat_body):
    body = edited(chat_body, ROUTE, Target={"Fn::ImportValue": "shared-integration"})
    message = refused(body, "intrinsic function Fn::ImportValue is not supported")
    assert f"Resource {ROUTE} (AWS::ApiGatewayV2::Route): Target" in message
    body = edited(chat_body, ROUTE, Target={"Fn::Join": ["", ["integrations/", "x"]]})
    refused(body, "Fn::Join is not supported")


def test_an_unknown_short_tag_is_refused_by_name(chat_body):
    text = json.dumps(edited(chat_body, ROUTE, Target="@TARGET@"))
    body = parse_template("# yaml\n" + text.replace('"@TARGET@"', "!ImportValue shared"))
    refused(body, f"{ROUTE}.*Target: intrinsic function Fn::ImportValue")


def test_an_unknown_resource_type_is_refused_by_name(chat_body):
    body = copy.deepcopy(chat_body)
    body["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    refused(body, "Resource Queue: type AWS::SQS::Queue is not supported")
    body["Resources"]["Queue"] = {"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {}}
    refused(body, "Resource Queue: type AWS::ApiGatewayV2::Authorizer is not supported")


@pytest.mark.parametrize(
    ("properties", "match"),
    [
        ({"RouteKey": ["chat.send"]}, "RouteKey: Invalid input: .*RouteKey must be a string"),
        ({"RouteKey": 5}, "RouteKey: Invalid input: .*RouteKey must be a string"),
        ({"Colour": "red"}, "Colour: property Colour is not supported"),
        ({"ApiId": "abc1234567"}, "ApiId: must be a Ref to the template's AWS::ApiGatewayV2::Api"),
        ({"ApiId": {"Ref": "SenderPolicy"}}, "AWS::IAM::ManagedPolicy resources are not created"),
        ({"Target": {"Fn::Sub": "integrations/${Nowhere}"}}, "Nowhere: neither a parameter nor"),
        ({"Target": "integrations/nope123"}, "refused \\(Invalid target 'integrations/nope123'"),
        ({"Target": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}}, "Api.ApiEndpoint is not supported"),
        ({"Target": {"Ref": "AWS::NotificationARNs"}}, "pseudo parameter"),
        ({"Target": {"Ref": "Api", "Extra": 1}}, "Ref must be the only key"),
        ({"RouteKey": "channel.history"}, "refused \\(Route with routeKey 'channel.history' alr"),
        ({"AuthorizationType": "CUSTOM"}, "AuthorizationType: only NONE"),
        ({"RequestParameters": {"route.request.querystring.x": {"Needed": True}}}, "unknown"),
    ],
)
def test_a_hand_edited_route_is_refused_naming_the_property(chat_body, properties, match):
    message = refused(edited(chat_body, ROUTE, **properties), match)
    assert f"Resource {ROUTE} (AWS::ApiGatewayV2::Route)" in message


def test_a_route_whose_integration_is_missing_is_refused(chat_body):
    body = copy.deepcopy(chat_body)
    integration = logical_id("Integration", "router")
    del body["Resources"][integration]
    refused(body, f"{integration}: neither a parameter nor a resource of the template")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r.pop("Api"), "0 AWS::ApiGatewayV2::Api resources"),
        (lambda r: r.update(Api2=r["Api"]), "2 AWS::ApiGatewayV2::Api resources \\(Api, Api2\\)"),
        (lambda r: r["Stage"]["Properties"].pop("DeploymentId"), "Stage.*DeploymentId is required"),
        (lambda r: r["Stage"]["Properties"].update(AutoDeploy=True), "AutoDeploy: true"),
        (lambda r: r.pop("Stage"), "no AWS::ApiGatewayV2::Stage"),
        (lambda r: r["Api"]["Properties"].update(ProtocolType="HTTP"), "WebSocket APIs only"),
        (lambda r: r["Stage"].update(Condition="IsProd"), "Stage.*attribute Condition"),
        (lambda r: r["Stage"].update(DependsOn=["Gone"]), "DependsOn names Gone"),
        (lambda r: r["Stage"].update(Properties=[]), "Properties must be a mapping"),
        (lambda r: r.update(Bad="text"), "Resource Bad: must be a mapping with a string Type"),
        (lambda r: r["Api"].update(DependsOn="Stage"), "form a cycle"),
    ],
)
def test_a_template_that_is_not_ours_is_refused(chat_body, change, match):
    body = copy.deepcopy(chat_body)
    change(body["Resources"])
    refused(body, match)


def test_an_integration_the_local_gateway_cannot_call_is_refused(chat_body):
    integration = logical_id("Integration", "router")
    body = edited(chat_body, integration, IntegrationType="MOCK")
    refused(body, f"{integration}.*IntegrationType: MOCK is not served")


def test_an_unsupported_section_is_refused(chat_body):
    refused({**chat_body, "Transform": "AWS::Serverless-2016-10-31"}, "Section 'Transform'")
    refused({**chat_body, "Resources": {}}, "Resources: missing or empty")
    many = {f"R{i}": {"Type": "AWS::IAM::Role"} for i in range(501)}
    refused({**chat_body, "Resources": many}, "Resources: 501")


# -- parameters -----------------------------------------------------------------------------------


def test_a_missing_parameter_is_named(chat_body):
    refused(chat_body, "Parameter GatewaySecret has no value: pass --parameter", parameters={})


@pytest.mark.parametrize(
    ("value", "match"), [("short", "32 to 256 characters"), ("x" * 31 + " !", "AllowedPattern")]
)
def test_a_parameter_value_is_checked_and_never_echoed(chat_body, value, match):
    message = refused(chat_body, match, parameters={SECRET_PARAMETER: value})
    assert value not in message


def test_an_unknown_parameter_is_refused(chat_body):
    refused(
        chat_body,
        "--parameter Colour: the template has no such parameter \\(it has Gateway",
        parameters={**PARAMETERS, "Colour": "red"},
    )
    body = copy.deepcopy(chat_body)
    body["Parameters"]["Count"] = {"Type": "Number", "Default": 1}
    refused(body, "Parameter Count: only Type String")


# -- the file itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ("a: [1\n", "not valid YAML"),
        ("just text", "expected a mapping at the top, got str"),
        ("[1, 2]", "got list"),
        ('{"a": 1, "a": 2}', "key 'a' appears twice"),
        ("a: 1\na: 2\n", "key 'a' appears twice"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases are not supported"),
        ("[" * 100_000, "nested too deeply|not valid JSON"),
        ("a: " + "[" * 100_000, "nested too deeply|not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_template_is_refused(tmp_path, content, match):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(TemplateError, match=match):
        read_template(path)


def test_yaml_python_tags_construct_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "t.yaml"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        path.write_text(f"Resources: {tag} ['touch {marker}']\n")
        with pytest.raises(TemplateError, match="not valid YAML .*python/object"):
            read_template(path)
    assert not marker.exists()


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.json"
    path.write_bytes(b" " * MAX_TEMPLATE_FILE_BYTES + b"{}")
    with pytest.raises(TemplateError, match=f"larger than {MAX_TEMPLATE_FILE_BYTES} bytes"):
        read_template(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(TemplateError, match="not UTF-8"):
        read_template(path)
    with pytest.raises(TemplateError, match="cannot be read"):
        read_template(tmp_path / "absent.json")


# -- the command ----------------------------------------------------------------------------------


def build(*argv: str) -> Any:
    command = Command(stdout=StringIO(), stderr=StringIO())
    parser = command.create_parser("manage.py", "runwsgateway")
    return command.build_config(vars(parser.parse_args(list(argv))))


@pytest.fixture
def chat_file(chat_body: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(chat_body))
    return path


def test_the_command_serves_the_templates_stage(chat_file):
    config = build(f"--template={chat_file}", f"--parameter=GatewaySecret={SECRET}")
    assert (config.stage, config.target, config.secret) == ("demo", None, None)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        ([], "Parameter GatewaySecret has no value"),
        (["--parameter=GatewaySecret"], "expected NAME=VALUE"),
        (["--parameter=GatewaySecret=a", "--parameter=GatewaySecret=b"], "given twice"),
        (["--target=http://127.0.0.1:8000/ws/"], "drop --target"),
        (["--state=x.json"], "drop --state"),
        (["--integration-origin=http://h/p"], "--integration-origin"),
    ],
)
def test_the_commands_template_errors_are_command_errors(chat_file, argv, match):
    with pytest.raises(CommandError, match=match):
        build(f"--template={chat_file}", *argv)


def test_template_options_without_a_template_are_refused():
    with pytest.raises(CommandError, match="go with --template"):
        build("--parameter=GatewaySecret=x")
    with pytest.raises(CommandError, match="cannot be read"):
        build("--template=/nonexistent/chat.json", "--parameter=GatewaySecret=x")
