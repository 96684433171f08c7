"""WsTestClient: users' own tests drive the real view and see what was pushed."""

from __future__ import annotations

import pytest

from ws_routes import Router, WsError
from ws_routes.models import ConnectToken, WebSocketSession
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db


def test_connect_send_disconnect_with_default_router(alice, bob):
    with WsTestClient() as ws:
        a = ws.connect(user=alice, channel="room1")
        b = ws.connect(user=bob, channel="room1")
        other = ws.connect(user=bob, channel="room2")
        assert a.accepted and b.accepted and other.accepted
        reply = a.send("chat.send", {"text": "hi"}, id="m1")
        assert reply.status == 200
        assert reply.body == {"action": "chat.send", "id": "m1", "data": {"ok": True}}
        assert a.pushed == b.pushed == [{"from": "alice", "text": "hi"}]
        assert other.pushed == []
        b.disconnect()
        a.send("chat.send", {"text": "again"})
        assert b.pushed == [{"from": "alice", "text": "hi"}]
        assert len(a.pushed) == 2


def test_errors_are_visible(alice):
    ws = WsTestClient()
    conn = ws.connect(user=alice)
    reply = conn.send("chat.send", {"text": ""})
    assert reply.status == 400
    assert reply.error["code"] == "invalid_message"
    assert reply.error["details"][0]["path"] == "$.text"
    assert conn.send_raw(b"{nope").error["code"] == "invalid_json"
    assert conn.send("missing.route").error["code"] == "unknown_route"


def test_refused_connect_is_not_accepted():
    ws = WsTestClient()
    conn = ws.connect(channel="forbidden")
    assert not conn.accepted and conn.response.status_code == 403
    assert conn.send("echo").status == 410


def test_token_connect(alice):
    ws = WsTestClient()
    conn = ws.connect(token=ConnectToken.mint(alice))
    assert conn.accepted
    assert conn.send("echo").data["user"] == "alice"
    assert not ws.connect(token="x" * 43).accepted


def test_own_router_and_secretless_project(settings):
    settings.WS_ROUTES = {}
    r = Router()

    @r.route("add", schema={"type": "object", "required": ["a", "b"]})
    def add(request, body):
        if body["a"] < 0:
            raise WsError("negative", "No negatives")
        request.websocket_session.send({"sum": body["a"] + body["b"]})
        return body["a"] + body["b"]

    ws = WsTestClient(r)
    conn = ws.connect()
    assert conn.send("add", {"a": 1, "b": 2}).data == 3
    assert conn.pushed == [{"sum": 3}]
    assert conn.send("add", {"a": -1, "b": 2}).error["code"] == "negative"
    assert WebSocketSession.objects.get().api_id == "testapi"


def test_pushes_outside_calls_are_captured_inside_with_block(alice):
    with WsTestClient() as ws:
        conn = ws.connect(user=alice, channel="news")
        result = WebSocketSession.objects.filter(channel_name="news").send({"n": 1})
        assert result.delivered == 1
        assert conn.pushed == [{"n": 1}]
