"""The AsyncAPI 3.0 document: its content, the official parser's verdict, wsschema, staff URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import include, path

from ws_routes import Router
from ws_routes.asyncapi import asyncapi_urls, build_document, gateway_servers, to_yaml
from ws_routes.asyncapi.codes import all_codes
from ws_routes.management.commands.wsschema import mounted_routers
from ws_routes.models import ApiGateway

ROOT = Path(__file__).resolve().parent.parent
PARSER_DIR = ROOT / "tests" / "js" / "asyncapi"
EXAMPLE_DOCUMENT = ROOT / "docs" / "asyncapi-example.json"


def full_router() -> Router:
    """A router using every feature the document shows."""
    router = Router(app_name="full")
    tree = {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#"}},
        },
    }
    with_definitions = {
        "type": "object",
        "required": ["at"],
        "properties": {"at": {"$ref": "#/definitions/Point"}},
        "definitions": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "additionalProperties": False,
    }

    @router.route("tree.put", schema=tree, login_required=True)
    def tree_put(request, body):
        """Store a tree.

        Longer text that is not the summary."""

    router.route("map/mark:set", schema=with_definitions, permission="auth.view_user")(
        lambda request, body: None
    )
    router.route("map_mark_set", reply_schema={"type": "object"})(lambda request, body: {})
    router.route(
        "gw.checked",
        schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        gateway_validation=True,
    )(lambda request, body: None)
    router.route("who", schema={"type": "object", "maxProperties": 0})(lambda r, b: None)
    router.default(lambda request, body: None)
    router.message("note", schema={"type": "object", "properties": {"type": {"enum": ["note"]}}})
    router.message("presence", schema={"type": "object", "required": ["type", "event"]})
    router.add_channel("room:{name}", presence=True, history=100)
    router.add_channel("team:{team}:{topic}", history_age=timedelta(hours=1))
    router.add_channel("lobby")
    try:
        pydantic = __import__("pydantic")
    except ImportError:
        return router

    class Point(pydantic.BaseModel):
        x: float
        y: float

    class Shape(pydantic.BaseModel):
        points: list[Point]

    class Move(pydantic.BaseModel):
        start: Point
        end: Point

    router.route("shape.add", schema=Shape, reply_schema=Move)(lambda request, body: None)
    router.message("shape.moved", schema=Move, description="Someone moved a shape.")
    return router


def all_refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in all_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in all_refs(item)]
    return []


def resolve_pointer(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]  # type: ignore[index]
    return node


def test_every_reference_resolves_inside_the_document():
    document = build_document(full_router())
    refs = all_refs(document)
    assert refs and not [ref for ref in refs if "definitions" in ref or "$defs" in ref]
    for ref in refs:
        resolve_pointer(document, ref)
    schemas = document["components"]["schemas"]
    # the shared pydantic Point is stored once; the dict schema's own Point gets another key
    point_keys = [key for key in schemas if key.startswith("Point")]
    assert len(point_keys) == 2, point_keys
    json.dumps(document, allow_nan=False)


def test_one_operation_per_route_with_reply_error_and_codes():
    router = full_router()
    document = build_document(router)
    operations = document["operations"]
    received = {op["title"] for op in operations.values() if op["action"] == "receive"}
    assert received == {*router.routes, "$default"}
    sent = {op["title"] for op in operations.values() if op["action"] == "send"}
    assert sent >= {"push note"}
    assert len(set(operations)) == len(operations)
    assert "map_mark_set" in operations and "map_mark_set_2" in operations  # keys made unique
    messages = document["channels"]["socket"]["messages"]
    tree = operations["tree.put"]
    assert tree["summary"] == "Store a tree."
    request = resolve_pointer(document, tree["messages"][0]["$ref"])
    frame, body = request["payload"]["allOf"]  # a recursive schema is a component: allOf
    assert frame["properties"]["action"] == {"type": "string", "const": "tree.put"}
    assert frame["required"] == ["action"]
    assert body == {"$ref": "#/components/schemas/tree.put.body"}
    checked = resolve_pointer(document, operations["gw.checked"]["messages"][0]["$ref"])
    assert checked["payload"]["required"] == ["action"]  # merged into the object schema
    assert set(checked["payload"]["properties"]) == {"action", "id", "n"}
    reply, error = (resolve_pointer(document, m["$ref"]) for m in tree["reply"]["messages"])
    assert reply["payload"]["properties"]["data"] == {}
    codes = error["x-ws-routes-error-codes"]
    assert "not_authenticated" in codes and "permission_denied" not in codes
    perm = operations["map_mark_set"]
    assert (
        perm["title"] == "map/mark:set" and operations["map_mark_set_2"]["title"] == "map_mark_set"
    )
    perm_error = resolve_pointer(document, perm["reply"]["messages"][1]["$ref"])
    assert "permission_denied" in perm_error["x-ws-routes-error-codes"]
    who = resolve_pointer(document, operations["who"]["messages"][0]["$ref"])
    assert who["payload"]["maxProperties"] == 2  # the body's 0, plus action and id
    assert len(messages) == len(set(messages))


def test_channel_rules_become_channels_with_parameters():
    channels = build_document(full_router())["channels"]
    room = next(c for c in channels.values() if c.get("address") == "room:{name}")
    assert set(room["parameters"]) == {"name"}
    assert "Presence" in room["description"] and "the last 100 messages" in room["description"]
    assert room["messages"] == {"presence": {"$ref": "#/channels/socket/messages/push.presence"}}
    team = next(c for c in channels.values() if c.get("address") == "team:{team}:{topic}")
    assert set(team["parameters"]) == {"team", "topic"}
    assert "younger than 3600 s" in team["description"] and "No presence" in team["description"]
    lobby = next(c for c in channels.values() if c.get("address") == "lobby")
    assert "parameters" not in lobby and "History" not in lobby["description"]
    assert set(build_document(Router())["channels"]) == {"socket"}  # no rules: the socket only


def test_security_and_servers():
    document = build_document(full_router())
    schemes = document["components"]["securitySchemes"]
    assert schemes["connectToken"] == {
        **schemes["connectToken"],
        "type": "httpApiKey",
        "in": "query",
        "name": "token",
    }
    assert (
        schemes["sessionCookie"]["in"] == "cookie"
        and schemes["sessionCookie"]["name"] == "sessionid"
    )
    server = document["servers"]["gateway"]
    assert server["protocol"] == "wss" and server["variables"]["region"]["default"] == "eu-west-2"
    gateway = ApiGateway(
        api_name="chat",
        api_endpoint="wss://abc123.execute-api.eu-west-2.amazonaws.com",
        stage_name="live",
        domain_name="ws.example.com",
        custom_domain_created=True,
    )
    servers = gateway_servers(gateway)
    assert servers["live"]["host"] == "abc123.execute-api.eu-west-2.amazonaws.com"
    assert servers["live"]["pathname"] == "/live"
    assert servers["custom-domain"]["host"] == "ws.example.com"
    unknown = gateway_servers(ApiGateway(api_name="new"))  # not provisioned yet: a template
    assert unknown["gateway"]["host"] == "{apiId}.execute-api.{region}.amazonaws.com"


def test_every_message_error_code_of_the_view_is_documented():
    source = (
        (ROOT / "ws_routes" / "views.py").read_text()
        + (ROOT / "ws_routes" / "validation.py").read_text()
        + (ROOT / "ws_routes" / "typed.py").read_text()
    )
    emitted = set(re.findall(r'WsError\(\s*"([a-z_]+)"', source))
    # answered to API Gateway on connect/disconnect, or to callers that are not our gateway:
    not_replies = {
        "bad_request",
        "forbidden",
        "method_not_allowed",
        "rate_limited",
        "origin_not_allowed",
        "connection_refused",
    }
    assert emitted - not_replies - set(all_codes()) == set()
    assert {"invalid_message", "unknown_route", "invalid_reply"} <= emitted


# -- the official parser --------------------------------------------------------------------


def asyncapi_parser() -> str:
    """Node with @asyncapi/parser, else skip (fail if WS_ROUTES_REQUIRE_ASYNCAPI: CI has it)."""
    missing = None
    node = shutil.which("node")
    if node is None:
        missing = "no `node` on PATH: validating with @asyncapi/parser needs Node.js 18+"
    elif not (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        missing = "@asyncapi/parser is not installed: run `make asyncapi-deps`"
    if missing is not None:
        if os.environ.get("WS_ROUTES_REQUIRE_ASYNCAPI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


def parse_with_official_parser(tmp_path: Path, text: str, suffix: str) -> dict:
    node = asyncapi_parser()
    document = tmp_path / f"asyncapi.{suffix}"
    document.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [node, str(PARSER_DIR / "validate.mjs"), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    verdict = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and verdict["parsed"], json.dumps(verdict, indent=2)[:6000]
    return verdict


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_the_official_parser_accepts_the_document(tmp_path, fmt):
    document = build_document(full_router(), title="Full", version="2.1.0")
    text = json.dumps(document) if fmt == "json" else to_yaml(document)
    verdict = parse_with_official_parser(tmp_path, text, fmt)
    assert verdict["errors"] == []


def test_the_official_parser_rejects_a_broken_document(tmp_path):
    """The check can fail: a dangling reference is reported as an error."""
    document = build_document(full_router())
    document["operations"]["tree.put"]["channel"] = {"$ref": "#/channels/nowhere"}
    node = asyncapi_parser()
    target = tmp_path / "broken.json"
    target.write_text(json.dumps(document))
    done = subprocess.run(
        [node, str(PARSER_DIR / "validate.mjs"), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout.strip().splitlines()[-1])["errors"]


def test_the_example_document_parses(tmp_path):
    parse_with_official_parser(tmp_path, EXAMPLE_DOCUMENT.read_text(), "json")


# -- the example's document is up to date -----------------------------------------------------


def test_docs_example_document_is_up_to_date():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "example_project" / "manage.py"),
            "wsschema",
            "--title",
            "Example chat",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == json.loads(EXAMPLE_DOCUMENT.read_text()), (
        "docs/asyncapi-example.json is out of date: run `make asyncapi-example`"
    )
    document = json.loads(done.stdout)
    assert {"chat.send", "chat.who", "push.chat.message", "push.presence"} <= set(
        document["operations"]
    )


# -- wsschema ---------------------------------------------------------------------------------


def test_wsschema_writes_json_and_yaml(tmp_path, capsys):
    call_command("wsschema", "--router", "example_project.chat.ws.router")
    document = json.loads(capsys.readouterr().out)
    assert document["asyncapi"] == "3.0.0" and "chat.send" in document["operations"]
    target = tmp_path / "doc.yaml"
    call_command(
        "wsschema",
        "--router",
        "example_project.chat.ws.router",
        "--format",
        "yaml",
        "--output",
        str(target),
    )
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the YAML back")
    assert yaml.safe_load(target.read_text()) == document


def test_wsschema_documents_the_mounted_router_by_default(capsys):
    from ws_routes import router as default_router

    assert mounted_routers() == [default_router]  # tests/urls.py mounts the default router
    call_command("wsschema")
    assert set(json.loads(capsys.readouterr().out)["operations"]) >= set(default_router.routes)


@pytest.mark.django_db
def test_wsschema_gateway_gives_its_router_and_url(capsys):
    ApiGateway.objects.create(
        api_name="chat",
        target_base_endpoint="https://www.example.com/ws/",
        api_endpoint="wss://zz9plural.execute-api.eu-west-2.amazonaws.com",
        stage_name="prod",
    )
    call_command("wsschema", "--gateway", "chat")
    document = json.loads(capsys.readouterr().out)
    assert document["servers"]["prod"]["host"] == "zz9plural.execute-api.eu-west-2.amazonaws.com"
    with pytest.raises(CommandError, match="No ApiGateway"):
        call_command("wsschema", "--gateway", "nope")


@pytest.mark.django_db
def test_wsschema_bad_arguments_are_clear(tmp_path):
    with pytest.raises(CommandError, match="not both"):
        call_command("wsschema", "--gateway", "x", "--router", "y.z")
    with pytest.raises(CommandError, match="--router 'no.such.thing'"):
        call_command("wsschema", "--router", "no.such.thing")
    with pytest.raises(CommandError, match="not a Router"):
        call_command("wsschema", "--router", "ws_routes.conf.DEFAULTS")
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("wsschema", "--output", str(tmp_path / "missing" / "dir" / "doc.json"))
    with pytest.raises(CommandError):
        call_command("wsschema", "--format", "xml")


def test_several_mounted_routers_need_a_choice():
    with override_settings(ROOT_URLCONF=__name__), pytest.raises(CommandError, match="several"):
        call_command("wsschema")


# -- the staff-only URL -----------------------------------------------------------------------

DOCUMENTED = Router(app_name="documented")
DOCUMENTED.route("ping", reply_schema={"type": "object"})(lambda request, body: {})
urlpatterns = [
    path("ws/", include(DOCUMENTED.urls)),
    path("ws/asyncapi/", include(asyncapi_urls(DOCUMENTED, title="Doc <script>"))),
    path("other/", include(Router(app_name="other").urls)),
    path("accounts/login/", lambda request: None, name="login"),
]


@pytest.fixture
def documented_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.LOGIN_URL = "/accounts/login/"


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "asyncapi.json", "asyncapi.yaml"])
def test_document_url_is_staff_only(client, django_user_model, documented_urls, suffix):
    url = f"/ws/asyncapi/{suffix}"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(
        "/accounts/login/?next="
    )
    client.force_login(django_user_model.objects.create_user("carol"))
    assert client.get(url).status_code == 403
    staff = django_user_model.objects.create_user("dora", is_staff=True)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    text = response.content.decode()
    if suffix == "asyncapi.json":
        assert json.loads(text)["info"]["title"] == "Doc <script>"
    elif suffix == "asyncapi.yaml":
        assert text.startswith('asyncapi: "3.0.0"\n')
    else:
        assert "<title>Doc &lt;script&gt;" in text and "<script>" not in text  # escaped
        assert "ping" in text and 'href="asyncapi.json"' in text
    assert client.post(url).status_code == 405
    staff.is_active = False
    staff.save()
    assert client.get(url).status_code == 302  # a deactivated account is logged out
