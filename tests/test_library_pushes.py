"""Issue 26 item 3: the library's own pushes are declared (ws_routes/library_pushes.py).

With any ``router.message(...)`` declared, a strict ``WsTestClient`` refused the library's
presence push (``ContractViolation: undeclared push 'presence'``; presence swallows a failed
push, so it was only logged and never delivered) and the AsyncAPI document left it out.
"""

from __future__ import annotations

import gc

import pytest

from ws_routes import Router
from ws_routes.asyncapi import build_document
from ws_routes.channels import enable_channel_routes
from ws_routes.library_pushes import LIBRARY_PUSHES, PRESENCE_PUSH_SCHEMA
from ws_routes.models import WebSocketSession
from ws_routes.testing import ContractViolation, WsTestClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def declaring_router():
    """Declares one push of its own (which makes the test client strict) and a presence rule."""
    router = Router(app_name="declaring")
    enable_channel_routes(router)
    router.message("chat.message", schema={"type": "object", "required": ["text"]})
    router.add_channel("lpres:{name}", presence=True)
    router.add_channel("lquiet:{name}")
    yield router
    router._channels._rules.clear()  # the registry is global and weak: leave no rule behind
    del router
    gc.collect()


def session_of(conn):
    return WebSocketSession.objects.get(connection_id=conn.connection_id)


def presence(conn):
    return [(p["event"], p["user"]["username"]) for p in conn.pushed if p["type"] == "presence"]


def test_a_strict_client_accepts_the_librarys_presence_pushes(declaring_router, alice, bob):
    with WsTestClient(declaring_router) as ws:
        assert ws.checks_pushes
        a = ws.connect(user=alice, channel="lpres:kitchen")
        b = ws.connect(user=bob)
        b.send("channel.subscribe", {"channel": "lpres:kitchen"})
        b.send("channel.unsubscribe", {"channel": "lpres:kitchen"})
        assert presence(a) == [("join", "bob"), ("leave", "bob")]
        assert ws.violations == []


def test_a_strict_client_still_checks_the_presence_pushes_shape(declaring_router, alice):
    with WsTestClient(declaring_router) as ws:
        conn = ws.connect(user=alice)
        for bad in (
            {"type": "presence", "channel": "lpres:a", "event": "wave", "user": {}},
            {"type": "presence", "channel": "lpres:a", "event": "join"},
            {"type": "presence", "channel": "lpres:a", "event": "join", "user": {}, "x": 1},
        ):
            with pytest.raises(ContractViolation, match="breaks the contract") as raised:
                session_of(conn).send(bad)
            assert "undeclared" not in str(raised.value)  # checked against the schema
        with pytest.raises(ContractViolation, match="undeclared push 'nope'"):
            session_of(conn).send({"type": "nope"})


def test_a_projects_own_presence_declaration_wins(declaring_router, alice):
    router = Router(app_name="own_presence")
    router.message("presence", schema={"type": "object", "required": ["mine"]})
    with WsTestClient(router) as ws:
        conn = ws.connect(user=alice)
        with pytest.raises(ContractViolation, match="mine"):
            session_of(conn).send({"type": "presence", "channel": "x", "event": "join", "user": {}})
    document = build_document(router)
    payload = document["channels"]["socket"]["messages"]["push.presence"]["payload"]
    assert payload["required"] == ["mine"]
    with WsTestClient(declaring_router) as ws:  # declares no presence: the library's applies
        session_of(ws.connect(user=alice)).send(
            {"type": "presence", "channel": "x", "event": "join", "user": {}}
        )
        assert ws.violations == []


def test_the_asyncapi_document_lists_the_presence_push(declaring_router):
    document = build_document(declaring_router)
    messages = document["channels"]["socket"]["messages"]
    assert messages["push.presence"]["payload"] == PRESENCE_PUSH_SCHEMA
    assert "ws_routes" in messages["push.presence"]["description"]
    rooms = [c for c in document["channels"].values() if c.get("address") == "lpres:{name}"]
    assert rooms[0]["messages"] == {
        "presence": {"$ref": "#/channels/socket/messages/push.presence"}
    }
    assert any(op["title"] == "push presence" for op in document["operations"].values())


def test_no_presence_push_is_documented_without_a_presence_rule():
    router = Router(app_name="no_presence")
    router.add_channel("lnone:{name}")
    assert "push.presence" not in build_document(router)["channels"]["socket"]["messages"]
    assert set(LIBRARY_PUSHES) == {"presence"}
