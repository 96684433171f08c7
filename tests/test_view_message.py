"""MESSAGE events: routing, replies, errors, the one-query budget, and hostile bodies."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ws_routes.models import WebSocketSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def anon_conn(gateway):
    response = gateway.connect(query="channel=lobby")
    assert response.status_code == 200
    return response.connection_id


def reply(response):
    return json.loads(response.content) if response.content else None


def table_state():
    return sorted(
        WebSocketSession.objects.values_list("connection_id", "connected", "channel_name")
    )


def test_reply_echoes_action_and_id_and_strips_them_from_body(gateway, conn):
    response = gateway.message(conn, {"action": "echo", "id": "r1", "x": [1, "ü"]})
    assert response.status_code == 200
    assert reply(response) == {
        "action": "echo",
        "id": "r1",
        "data": {"body": {"x": [1, "ü"]}, "user": "alice"},
    }


def test_reply_without_id_has_no_id(gateway, conn):
    assert reply(gateway.message(conn, {"action": "echo"})) == {
        "action": "echo",
        "data": {"body": {}, "user": "alice"},
    }


def test_integer_id_is_echoed(gateway, conn):
    assert reply(gateway.message(conn, {"action": "echo", "id": 42}))["id"] == 42


def test_handler_returning_none_sends_empty_200(gateway, conn):
    response = gateway.message(conn, {"action": "silent", "id": 1})
    assert response.status_code == 200 and response.content == b""


def test_async_handler(gateway, conn):
    data = reply(gateway.message(conn, {"action": "async.echo", "n": 5}))["data"]
    assert data == {"n": 5, "session": conn}


def test_message_costs_one_query_and_no_writes(gateway, conn, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(1):
        response = gateway.message(conn, {"action": "echo", "id": 1, "a": 1})
    assert response.status_code == 200
    assert not any(
        q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for q in queries
    )


def test_schema_validated_route_costs_one_query(
    gateway, conn, captured_sends, django_assert_max_num_queries
):
    # chat.send also broadcasts: the broadcast's own query is the sender's, so patch it away
    with django_assert_max_num_queries(2):  # 1 session query + the channel_members read
        response = gateway.message(conn, {"action": "chat.send", "text": "hello"})
    assert reply(response) == {"action": "chat.send", "data": {"ok": True}}
    assert captured_sends == [(conn, {"from": "alice", "text": "hello"})]


def test_schema_errors_list_each_path(gateway, conn):
    response = gateway.message(conn, {"action": "chat.send", "id": "x", "text": 5, "extra": 1})
    assert response.status_code == 400
    body = reply(response)
    assert body["action"] == "chat.send" and body["id"] == "x"
    assert body["error"]["code"] == "invalid_message"
    paths = sorted(d["path"] for d in body["error"]["details"])
    assert paths == ["$", "$.text"]


def test_schema_error_message_is_truncated(gateway, conn):
    response = gateway.message(conn, {"action": "chat.send", "text": "x" * 10_000})
    details = reply(response)["error"]["details"]
    assert details[0]["path"] == "$.text"
    assert len(details[0]["message"]) <= 300
    assert details[0]["message"].endswith("is too long")  # the quote is cut, not the reason


def test_unknown_route(gateway, conn):
    response = gateway.message(conn, {"action": "nope", "id": 3})
    assert response.status_code == 400
    assert reply(response) == {
        "action": "nope",
        "id": 3,
        "error": {"code": "unknown_route", "message": "No route for 'nope'", "details": None},
    }


def test_missing_action_is_unknown_route_without_default(gateway, conn):
    assert reply(gateway.message(conn, {"text": "x"}))["error"]["code"] == "unknown_route"


def test_unknown_route_costs_no_query(gateway, conn, django_assert_num_queries):
    with django_assert_num_queries(0):
        gateway.message(conn, {"action": "nope"})


def test_login_required_refuses_anonymous(gateway, anon_conn):
    response = gateway.message(anon_conn, {"action": "chat.send", "text": "hi"})
    assert response.status_code == 401
    assert reply(response)["error"]["code"] == "not_authenticated"


@pytest.fixture
def no_permission_cache(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "PERMISSION_CACHE_SECONDS": 0}


def test_permission_denied_then_granted(gateway, conn, alice, no_permission_cache):
    response = gateway.message(conn, {"action": "users.list"})
    assert response.status_code == 403
    assert reply(response)["error"]["code"] == "permission_denied"
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    response = gateway.message(conn, {"action": "users.list"})
    assert reply(response) == {"action": "users.list", "data": {"allowed": True}}


def test_permission_route_stays_at_one_query_with_the_cache(
    gateway, conn, alice, django_assert_num_queries
):
    from django.core.cache import cache

    cache.clear()
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    assert gateway.message(conn, {"action": "users.list"}).status_code == 200  # fills the cache
    with django_assert_num_queries(1):
        assert gateway.message(conn, {"action": "users.list"}).status_code == 200
    # a revoked permission reaches open sockets when the cached set expires
    alice.user_permissions.clear()
    assert gateway.message(conn, {"action": "users.list"}).status_code == 200
    cache.clear()
    assert gateway.message(conn, {"action": "users.list"}).status_code == 403


def test_superuser_passes_permission_routes_without_queries(
    gateway, alice, django_assert_num_queries
):
    alice.is_superuser = True
    alice.save()
    gateway.client.force_login(alice)
    cid = gateway.connect().connection_id
    with django_assert_num_queries(1):
        assert gateway.message(cid, {"action": "users.list"}).status_code == 200


def test_ws_error_reply(gateway, conn):
    response = gateway.message(conn, {"action": "app.error", "id": "e"})
    assert response.status_code == 400
    assert reply(response) == {
        "action": "app.error",
        "id": "e",
        "error": {"code": "nope", "message": "Not today", "details": {"why": "testing"}},
    }


def test_handler_crash_is_500_generic_and_logged(gateway, conn, caplog):
    with caplog.at_level("ERROR", logger="ws_routes"):
        response = gateway.message(conn, {"action": "boom", "id": 9})
    assert response.status_code == 500
    assert b"hunter2" not in response.content
    assert reply(response)["error"]["code"] == "internal_error"
    assert "hunter2" in caplog.text  # logged with the traceback, never echoed


def test_unserialisable_reply_is_500(gateway, conn):
    response = gateway.message(conn, {"action": "bad.reply"})
    assert response.status_code == 500
    assert reply(response)["error"]["code"] == "internal_error"


def test_unknown_connection_is_410(gateway):
    response = gateway.message("NeverConnected=", {"action": "echo", "id": 1})
    assert response.status_code == 410
    assert reply(response)["error"]["code"] == "unknown_connection"
    assert reply(response)["id"] == 1


def test_disconnected_connection_is_410(gateway, conn):
    gateway.disconnect(conn)
    assert gateway.message(conn, {"action": "echo"}).status_code == 410


def test_request_session_is_untouched(gateway, conn, client):
    # Django's own request.session must stay the cookie session, not the websocket one
    response = gateway.message(conn, {"action": "echo"})
    assert "sessionid" not in response.cookies


# -- hostile and malformed bodies: each gets its error and writes nothing -----------------------


@pytest.mark.parametrize(
    "raw, code, status",
    [
        (b"", "invalid_json", 400),
        (b"{", "invalid_json", 400),
        (b"{'action': 'echo'}", "invalid_json", 400),
        (b'{"action": NaN}', "invalid_json", 400),
        (b'{"action": "echo", "n": Infinity}', "invalid_json", 400),
        (b"\xff\xfe\x00garbage", "invalid_json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "too_large", 413),
        (b"[" * 50_000 + b"]" * 50_000, "invalid_json", 400),
        (b'"just a string"', "invalid_message", 400),
        (b"[1, 2, 3]", "invalid_message", 400),
        (b"null", "invalid_message", 400),
        (b"42", "invalid_message", 400),
        (b'{"action": 5}', "invalid_message", 400),
        (b'{"action": ["echo"]}', "invalid_message", 400),
        (b'{"action": {"$ne": 1}}', "invalid_message", 400),
        (b'{"action": "echo", "id": true}', "invalid_message", 400),
        (b'{"action": "echo", "id": {"a": 1}}', "invalid_message", 400),
        (b'{"action": "echo", "id": 1.5}', "invalid_message", 400),
        (b'{"action": "echo", "id": 9007199254740993}', "invalid_message", 400),
        (b'{"action": "' + b"a" * 200 + b'"}', "invalid_message", 400),
        (b'{"action": "echo", "n": 1' + b"0" * 5000 + b"}", "invalid_json", 400),
    ],
)
def test_malformed_bodies(gateway, conn, raw, code, status):
    before = table_state()
    response = gateway.message(conn, raw)
    assert response.status_code == status, response.content
    assert reply(response)["error"]["code"] == code
    assert table_state() == before


def test_id_too_long_is_refused(gateway, conn):
    response = gateway.message(conn, {"action": "echo", "id": "x" * 129})
    assert reply(response)["error"]["code"] == "invalid_message"


def test_oversized_body_is_413_before_reading(gateway, conn, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MAX_BODY_BYTES": 1024}
    response = gateway.message(conn, {"action": "echo", "pad": "x" * 2000})
    assert response.status_code == 413
    assert reply(response)["error"]["code"] == "too_large"
    assert gateway.message(conn, {"action": "echo", "pad": "x" * 900}).status_code == 200


def test_body_at_128k_default_limit(gateway, conn):
    big = {"action": "echo", "pad": "x" * (128 * 1024)}
    assert gateway.message(conn, big).status_code == 413
    ok = {"action": "echo", "pad": "x" * (120 * 1024)}
    assert gateway.message(conn, ok).status_code == 200


def test_unicode_and_control_characters_round_trip(gateway, conn):
    text = "zero\u200bwidth \u0000nul \u202eRTL \U0001f600 \ud7ff \n\t\x1f"
    data = reply(gateway.message(conn, {"action": "echo", "text": text}))["data"]
    assert data["body"]["text"] == text


def test_lone_surrogate_escape_is_accepted_as_json(gateway, conn):
    raw = b'{"action": "echo", "s": "\\ud800"}'
    response = gateway.message(conn, raw)
    assert response.status_code == 200
    assert reply(response)["data"]["body"] == {"s": "\ud800"}


def test_custom_selection_key(gateway, conn, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "ROUTE_SELECTION_KEY": "type"}
    response = gateway.message(conn, {"type": "echo", "action": "kept"})
    assert reply(response)["data"]["body"] == {"action": "kept"}
