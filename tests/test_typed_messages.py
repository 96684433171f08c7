"""Typed messages: Pydantic types as schemas, reply_schema and declared pushes (issue 15)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Literal

import pytest
from django.test import override_settings

from ws_routes import RouteConfigurationError, Router
from ws_routes.models import WebSocketSession
from ws_routes.testing import ContractViolation, WsTestClient

pydantic = pytest.importorskip("pydantic", reason="the [pydantic] extra is not installed")
BaseModel = pydantic.BaseModel
Field = pydantic.Field
TypedDict = pytest.importorskip("typing_extensions").TypedDict  # Pydantic's choice below 3.12


class Point(BaseModel):
    x: int
    y: int


class Shape(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    points: list[Point] = Field(max_length=50)


class Delivered(BaseModel):
    delivered: int = Field(ge=0)


class Tagged(TypedDict):
    tag: str


@dataclasses.dataclass
class Pair:
    left: int
    right: int


class ChatMessage(BaseModel):
    type: Literal["chat.message"]
    text: str


def typed_router() -> Router:
    router = Router()

    @router.route("shape.add", schema=Shape, reply_schema=Delivered)
    def add(request, body: Shape):
        assert isinstance(body, Shape)
        return Delivered(delivered=len(body.points))

    @router.route("shape.raw", schema=Shape)
    def raw(request, body: dict):
        assert type(body) is dict  # not annotated with the model: the client's dict
        return {"kind": type(body).__name__, "points": body["points"]}

    @router.route("shape.bare", schema=Shape)
    def bare(request, body):
        return {"kind": type(body).__name__}

    @router.route("tagged", schema=Tagged)
    def tagged(request, body: Tagged):
        return {"tag": body["tag"]}

    @router.route("pair", schema=Pair, reply_schema=Pair)
    def pair(request, body: Pair):
        return Pair(body.right, body.left)

    @router.route("lie", schema={"type": "object"}, reply_schema=Delivered)
    def lie(request, body):
        return {"delivered": body.get("n", -1)}

    @router.route("say", schema={"type": "object"})
    def say(request, body):
        request.websocket_session.send(body.get("push"))
        return None

    router.message("chat.message", schema=ChatMessage)
    router.message(
        "presence",
        schema={
            "type": "object",
            "required": ["type", "user"],
            "properties": {"type": {"enum": ["presence"]}, "user": {"type": "string"}},
        },
    )
    return router


@pytest.fixture
def ws(db):
    with WsTestClient(typed_router()) as client:
        yield client


def test_model_instance_reaches_an_annotated_handler_and_the_reply_is_dumped(ws, alice):
    conn = ws.connect(user=alice)
    reply = conn.send("shape.add", {"name": "tri", "points": [{"x": 1, "y": 2}]}, id=7)
    assert reply.status == 200
    assert reply.body == {"action": "shape.add", "id": 7, "data": {"delivered": 1}}


def test_unannotated_or_dict_annotated_handlers_get_the_dict(ws, alice):
    conn = ws.connect(user=alice)
    body = {"name": "tri", "points": [{"x": "1", "y": 2}]}
    assert conn.send("shape.raw", body).data == {"kind": "dict", "points": [{"x": "1", "y": 2}]}
    assert conn.send("shape.bare", body).data == {"kind": "dict"}


def test_dataclass_and_typeddict_schemas(ws, alice):
    conn = ws.connect(user=alice)
    assert conn.send("pair", {"left": 1, "right": 2}).data == {"left": 2, "right": 1}
    assert conn.send("tagged", {"tag": "a"}).data == {"tag": "a"}
    assert conn.send("tagged", {"tag": 5}).error["details"] == [
        {"path": "$.tag", "message": "Input should be a valid string"}
    ]


def test_pydantic_errors_become_invalid_message_with_json_paths(ws, alice):
    conn = ws.connect(user=alice)
    reply = conn.send("shape.add", {"name": "", "points": [{"x": 1}, {"x": "a", "y": 2}]}, id="q")
    assert reply.status == 400 and reply.body["id"] == "q"
    assert reply.error["code"] == "invalid_message"
    assert [d["path"] for d in reply.error["details"]] == [
        "$.name",
        "$.points[0].y",
        "$.points[1].x",
    ]


def test_hostile_bodies_are_refused_with_a_bounded_error_list(ws, alice):
    conn = ws.connect(user=alice)
    many = {"name": "x" * 10_000, "points": [{"x": "no", "y": "no"}] * 40}
    reply = conn.send("shape.add", many)
    assert reply.error["code"] == "invalid_message"
    assert len(reply.error["details"]) == 20  # MAX_SCHEMA_ERRORS
    assert all(len(d["message"]) <= 300 for d in reply.error["details"])
    assert conn.send("shape.add", {"name": "a", "points": [{}] * 51}).status == 400
    deep: object = {"x": 1, "y": 2}
    for _ in range(200):
        deep = {"nested": deep}
    assert conn.send("shape.add", {"name": "a", "points": [deep]}).status == 400
    assert conn.send("shape.add", {"name": "a", "points": "\ud800"}).status == 400


def test_a_pydantic_route_costs_one_query(ws, alice, django_assert_num_queries):
    conn = ws.connect(user=alice)
    body = {"name": "tri", "points": [{"x": 1, "y": 2}]}
    with django_assert_num_queries(1):
        assert conn.send("shape.add", body).status == 200
    with django_assert_num_queries(1):
        assert conn.send("shape.add", {"name": ""}).status == 400


def test_concurrent_validation_shares_one_adapter_safely():
    route = typed_router().routes["shape.add"]
    failures: list[object] = []

    def hammer(n: int) -> None:
        for i in range(300):
            problems, value = route.validator.check({"name": f"s{n}", "points": [{"x": i, "y": n}]})
            if problems or value.points[0].x != i or value.name != f"s{n}":
                failures.append((n, i, problems))
            if not route.validator.check({"name": "", "points": []})[0]:
                failures.append((n, i, "accepted an empty name"))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# -- reply_schema ---------------------------------------------------------------------------


def test_a_reply_that_breaks_reply_schema_fails_the_test(ws, alice):
    conn = ws.connect(user=alice)
    assert conn.send("lie", {"n": 3}).data == {"delivered": 3}
    with pytest.raises(ContractViolation, match=r"breaks reply_schema.*\$\.delivered"):
        conn.send("lie", {"n": -5})
    assert ws.violations and "delivered" in ws.violations[-1]


@pytest.mark.django_db
def test_reply_checks_under_debug_answer_invalid_reply(alice):
    ws = WsTestClient(typed_router(), strict=False)  # what a DEBUG server does, not a test
    conn = ws.connect(user=alice)
    with override_settings(DEBUG=True):
        reply = conn.send("lie", {"n": -5}, id=1)
    assert reply.status == 500
    assert reply.body["id"] == 1 and reply.error["code"] == "invalid_reply"
    assert reply.error["details"][0]["path"] == "$.delivered"
    with override_settings(DEBUG=False):  # production: not checked, costs nothing
        assert conn.send("lie", {"n": -5}).data == {"delivered": -5}


def test_reply_schema_must_be_a_schema():
    with pytest.raises(RouteConfigurationError, match=r"Route 'x' reply_schema: invalid JSON"):
        Router().route("x", reply_schema={"type": "nope"})(lambda request, body: None)
    with pytest.raises(RouteConfigurationError, match="reply_schema: schema must be a dict"):
        Router().route("x", reply_schema=42)(lambda request, body: None)


# -- declared pushes ------------------------------------------------------------------------


def test_declared_pushes_pass_and_undeclared_or_invalid_ones_fail(ws, alice):
    conn = ws.connect(user=alice)
    assert conn.send("say", {"push": {"type": "chat.message", "text": "hi"}}).status == 200
    assert conn.send("say", {"push": {"type": "presence", "user": "alice"}}).status == 200
    assert conn.pushed == [
        {"type": "chat.message", "text": "hi"},
        {"type": "presence", "user": "alice"},
    ]
    with pytest.raises(ContractViolation, match=r"undeclared push 'nope'.*chat\.message"):
        conn.send("say", {"push": {"type": "nope"}})
    with pytest.raises(ContractViolation, match=r"\$\.text"):
        conn.send("say", {"push": {"type": "chat.message", "text": 5}})
    with pytest.raises(ContractViolation, match="undeclared push"):
        conn.send("say", {"push": ["not", "an", "object"]})
    assert len(conn.pushed) == 2  # the refused pushes were never recorded as delivered
    session = WebSocketSession.objects.get(connection_id=conn.connection_id)
    with pytest.raises(ContractViolation, match="undeclared push"):  # outside the view too
        session.send({"type": "other"})
    assert session.send({"type": "presence", "user": "x"}).delivered == 1


def test_strict_defaults_to_whether_the_router_declares_pushes(db, alice):
    plain = Router()

    @plain.route("say")
    def say(request, body):
        request.websocket_session.send({"anything": True})

    with WsTestClient(plain) as ws:  # nothing declared: pushes are not checked
        conn = ws.connect(user=alice)
        assert conn.send("say").status == 200
    with WsTestClient(plain, strict=True) as ws, pytest.raises(ContractViolation):
        ws.connect(user=alice).send("say")
    with WsTestClient(typed_router(), strict=False) as ws:
        conn = ws.connect(user=alice)
        assert conn.send("say", {"push": {"type": "nope"}}).status == 200


def test_duplicate_or_bad_message_declarations_fail_at_import():
    router = Router()
    router.message("a", schema={"type": "object"})
    with pytest.raises(RouteConfigurationError, match="Duplicate message 'a'"):
        router.message("a", schema={"type": "object"})
    for name in ("", None, "x" * 129):
        with pytest.raises(RouteConfigurationError, match="Invalid message name"):
            router.message(name, schema={"type": "object"})  # type: ignore[arg-type]
    with pytest.raises(RouteConfigurationError, match="schema= is required"):
        router.message("b", schema=None)
    with pytest.raises(RouteConfigurationError, match="invalid JSON Schema"):
        router.message("c", schema={"type": 12})
    other = Router()
    other.message("a", schema={"type": "object"})
    with pytest.raises(RouteConfigurationError, match="include"):
        router.include(other)
    merged = Router()
    merged.include(other)
    assert merged.messages.get("a") is other.messages.get("a")
    router.urls  # noqa: B018 (frozen)
    with pytest.raises(RouteConfigurationError, match="frozen"):
        router.message("late", schema={"type": "object"})


# -- bad types fail at import ---------------------------------------------------------------


def test_a_model_without_a_json_schema_fails_at_import():
    class Hook(BaseModel):
        callback: Callable[[], int]

    with pytest.raises(RouteConfigurationError, match=r"Route 'x': cannot derive a JSON Schema"):
        Router().route("x", schema=Hook)(lambda request, body: None)
    with pytest.raises(RouteConfigurationError, match="Message 'm': cannot derive"):
        Router().message("m", schema=Hook)


def test_a_type_pydantic_cannot_take_fails_at_import():
    class Opaque:
        pass

    with pytest.raises(RouteConfigurationError, match=r"Route 'x': Pydantic cannot validate"):
        Router().route("x", schema=Opaque)(lambda request, body: None)
    with pytest.raises(RouteConfigurationError, match="schema must be a dict"):
        Router().route("x", schema=Shape(name="a", points=[]))(lambda request, body: None)


def test_gateway_validation_takes_nested_models_and_refuses_what_draft4_lacks():
    router = Router()
    router.route("shape.add", schema=Shape, gateway_validation=True)(lambda request, body: None)
    schema = router.routes["shape.add"].schema
    assert schema["properties"]["points"]["items"] == {"$ref": "#/definitions/Point"}
    assert "Point" in schema["definitions"] and "$defs" not in schema
    with pytest.raises(RouteConfigurationError, match=r"draft 4.*'const'"):
        Router().route("c", schema=ChatMessage, gateway_validation=True)(lambda r, b: None)


def test_the_core_imports_and_works_without_pydantic():
    script = """
import sys
sys.modules["pydantic"] = None  # import pydantic -> ImportError, as when it is not installed
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from ws_routes import Router, RouteConfigurationError
from ws_routes import views, testing, typed, validation
from ws_routes.asyncapi import build_document, to_yaml
router = Router()
router.route("a", schema={"type": "object"}, reply_schema={"type": "object"})(lambda r, b: {})
router.message("m", schema={"type": "object"})
assert router.routes["a"].validator.is_valid({})
to_yaml(build_document(router))
class Model:
    pass
try:
    Router().route("b", schema=Model)(lambda r, b: None)
except RouteConfigurationError as error:
    print("ERROR", error)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pip install 'django-ws-routes[pydantic]'" in done.stdout
    assert "Traceback" not in done.stderr
