"""CONNECT and DISCONNECT events, the gateway secret, tokens, origins, channels and hooks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.testapp import ws as testapp_ws
from ws_routes.models import ConnectToken, WebSocketSession

pytestmark = pytest.mark.django_db


def code(response):
    return json.loads(response.content)["error"]["code"]


def sessions():
    return list(
        WebSocketSession.objects.order_by("pk").values(
            "connection_id",
            "user__username",
            "channel_name",
            "connected",
            "api_id",
            "stage",
            "source_ip",
        )
    )


# -- the gateway secret -------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["CONNECT", "MESSAGE", "DISCONNECT"])
@pytest.mark.parametrize(
    "secret", [None, "", "wrong", "test-gateway-secret-0123456789-abcdefghijklmnoP", "x" * 10_000]
)
def test_wrong_or_missing_secret_is_403_without_queries(
    gateway, event, secret, django_assert_num_queries
):
    headers = gateway.headers(event, "Conn1=", "$default")
    if secret is None:
        del headers["HTTP_X_WS_SECRET"]
    else:
        headers["HTTP_X_WS_SECRET"] = secret
    with django_assert_num_queries(0):
        response = gateway.client.post("/ws/", b'{"action":"echo"}', content_type="", **headers)
    assert response.status_code == 403
    assert code(response) == "forbidden"
    assert sessions() == []


def test_any_configured_secret_is_accepted_for_rotation(gateway, settings):
    old = settings.WS_ROUTES["GATEWAY_SECRETS"][0]
    new = "new-secret-abcdefghijklmnopqrstuvwxyz-0123456789"
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [new, old]}
    assert gateway.connect().status_code == 200  # fixture sends the old one
    assert gateway.connect(HTTP_X_WS_SECRET=new).status_code == 200


def test_no_secrets_refuses_everything_even_in_debug(gateway, settings):
    # Issue 10 item 2: DEBUG used to accept every caller without a secret; it fails closed now.
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}
    assert gateway.connect().status_code == 403
    settings.DEBUG = True
    assert gateway.connect().status_code == 403
    assert gateway.connect(HTTP_X_WS_SECRET="").status_code == 403


def test_get_is_refused(client, gateway):
    headers = gateway.headers("MESSAGE", "Conn1=", "$default")
    assert client.get("/ws/", **headers).status_code == 405


@pytest.mark.parametrize(
    "header, value",
    [
        ("HTTP_X_WS_EVENT", "EXPLODE"),
        ("HTTP_X_WS_EVENT", ""),
        ("HTTP_X_WS_CONNECTION_ID", ""),
        ("HTTP_X_WS_CONNECTION_ID", "../../etc/passwd"),
        ("HTTP_X_WS_CONNECTION_ID", "a" * 200),
        ("HTTP_X_WS_CONNECTION_ID", "abc def"),
        ("HTTP_X_WS_API_ID", "abc;drop table"),
        ("HTTP_X_WS_STAGE", "prod/../x"),
    ],
)
def test_malformed_headers_are_400_and_write_nothing(gateway, header, value):
    headers = gateway.headers("CONNECT", "Conn1=", "$connect")
    headers[header] = value
    response = gateway.client.post("/ws/", b"", content_type="", **headers)
    assert response.status_code == 400
    assert code(response) == "bad_request"
    assert sessions() == []


# -- CONNECT --------------------------------------------------------------------------------------


def test_anonymous_connect_creates_session(gateway):
    response = gateway.connect(query="channel=lobby")
    assert response.status_code == 200
    assert sessions() == [
        {
            "connection_id": response.connection_id,
            "user__username": None,
            "channel_name": "lobby",
            "connected": True,
            "api_id": "abc123",
            "stage": "production",
            "source_ip": "203.0.113.7",
        }
    ]


def test_cookie_connect_without_origin_is_the_user(gateway, alice):
    gateway.client.force_login(alice)
    assert gateway.connect().status_code == 200
    assert sessions()[0]["user__username"] == "alice"


def test_cookie_connect_from_allowed_origin(gateway, alice):
    gateway.client.force_login(alice)
    response = gateway.connect(HTTP_ORIGIN="https://app.example.com")
    assert response.status_code == 200
    assert sessions()[0]["user__username"] == "alice"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
        "https://evil.com/https://app.example.com",
        "https://app.example.com:8443",
        "null",
    ],
)
def test_foreign_origin_is_403(gateway, alice, origin):
    gateway.client.force_login(alice)
    response = gateway.connect(HTTP_ORIGIN=origin)
    assert response.status_code == 403
    assert code(response) == "origin_not_allowed"
    assert sessions() == []


def test_cookie_login_from_browser_needs_origin_list(gateway, alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "ALLOWED_ORIGINS": []}
    gateway.client.force_login(alice)
    response = gateway.connect(HTTP_ORIGIN="https://anything.example")
    assert response.status_code == 403
    assert sessions() == []
    # the same browser with a token is fine
    raw = ConnectToken.mint(alice)
    gateway.client.cookies.clear()  # no cookie; a logout would delete the token
    response = gateway.connect(query=f"token={raw}", HTTP_ORIGIN="https://anything.example")
    assert response.status_code == 200


def test_connect_statement_budget(gateway, alice, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # auth by token (2) ...
        raw_ok = ConnectToken.mint(alice)
    # token read + token delete + session upsert + the ?channel= subscription INSERT
    with django_assert_max_num_queries(4):
        response = gateway.connect(query=f"token={raw_ok}&channel=lobby")
    assert response.status_code == 200


def test_anonymous_connect_is_one_statement(gateway, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert gateway.connect().status_code == 200


def test_token_connect_is_single_use(gateway, alice):
    raw = ConnectToken.mint(alice)
    assert gateway.connect(query=f"token={raw}").status_code == 200
    assert sessions()[0]["user__username"] == "alice"
    replay = gateway.connect(query=f"token={raw}")
    assert replay.status_code == 401
    assert code(replay) == "invalid_token"
    assert len(sessions()) == 1


def test_expired_token_is_401(gateway, alice):
    raw = ConnectToken.mint(alice)
    ConnectToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = gateway.connect(query=f"token={raw}")
    assert response.status_code == 401
    assert sessions() == []


@pytest.mark.parametrize("raw", ["", "short", "x" * 5000, "'; DROP TABLE x; --", "%00%ff"])
def test_garbage_token_is_401(gateway, alice, raw):
    ConnectToken.mint(alice)
    response = gateway.connect(query=f"token={raw}")
    assert response.status_code == 401
    assert sessions() == []
    assert ConnectToken.objects.count() == 1


def test_token_of_inactive_user_is_refused(gateway, alice):
    raw = ConnectToken.mint(alice)
    alice.is_active = False
    alice.save()
    assert gateway.connect(query=f"token={raw}").status_code == 401


def test_tokens_are_stored_hashed(alice):
    raw = ConnectToken.mint(alice)
    stored = ConnectToken.objects.get()
    assert raw not in stored.token_hash and len(stored.token_hash) == 64


@pytest.mark.parametrize("channel", ["a b", "x" * 129, "<script>", "lobby;drop", "ü", "a/b", "%00"])
def test_invalid_channel_is_400_and_token_not_spent(gateway, alice, channel):
    from urllib.parse import quote

    raw = ConnectToken.mint(alice)
    response = gateway.connect(query=f"token={raw}&channel={quote(channel)}")
    assert response.status_code == 400
    assert code(response) == "invalid_channel"
    assert sessions() == []
    assert gateway.connect(query=f"token={raw}").status_code == 200


def test_default_channel_setting(gateway, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "DEFAULT_CHANNEL": "general"}
    gateway.connect()
    assert sessions()[0]["channel_name"] == "general"


def test_on_connect_hook_can_refuse(gateway, alice):
    response = gateway.connect(query="channel=forbidden")
    assert response.status_code == 403
    assert code(response) == "connection_refused"
    gateway.client.force_login(alice)
    response = gateway.connect(query="channel=vip")
    assert response.status_code == 403
    assert code(response) == "vip_only"
    assert sessions() == []


def test_crashing_connect_hook_is_500_json_and_writes_nothing(gateway, caplog):
    with caplog.at_level("ERROR", logger="ws_routes"):
        response = gateway.connect(query="channel=crash")
    assert response.status_code == 500
    assert code(response) == "internal_error"
    assert b"hook bug" not in response.content and "hook bug" in caplog.text
    assert sessions() == []


def test_connect_login_required_setting(gateway, alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "CONNECT_LOGIN_REQUIRED": True}
    response = gateway.connect()
    assert response.status_code == 401
    assert code(response) == "not_authenticated"
    gateway.client.force_login(alice)
    assert gateway.connect().status_code == 200


def test_retried_connect_replaces_the_row(gateway):
    gateway.connect("Same=", query="channel=a")
    WebSocketSession.objects.update(connected=False)
    assert gateway.connect("Same=", query="channel=b").status_code == 200
    assert [(s["channel_name"], s["connected"]) for s in sessions()] == [("b", True)]


def test_source_ip_garbage_is_stored_as_null(gateway):
    gateway.connect(HTTP_X_WS_SOURCE_IP="not-an-ip")
    assert sessions()[0]["source_ip"] is None


def test_connect_rate_limit_per_ip(gateway, settings):
    from django.core.cache import cache

    cache.clear()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "CONNECT_RATE_LIMIT": (3, 60)}
    statuses = [gateway.connect().status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert gateway.connect(HTTP_X_WS_SOURCE_IP="198.51.100.1").status_code == 200
    assert len(sessions()) == 4
    cache.clear()


# -- DISCONNECT -----------------------------------------------------------------------------------


def test_disconnect_marks_closed_runs_hooks_once(gateway, alice, django_assert_num_queries):
    testapp_ws.DISCONNECTED.clear()
    gateway.client.force_login(alice)
    cid = gateway.connect().connection_id
    response = gateway.disconnect(cid)
    assert response.status_code == 200
    assert sessions()[0]["connected"] is False
    assert [(cid, "alice")] == testapp_ws.DISCONNECTED
    with django_assert_num_queries(1):
        assert gateway.disconnect(cid).status_code == 200  # idempotent, hooks not again
    assert [(cid, "alice")] == testapp_ws.DISCONNECTED


def test_disconnect_of_unknown_connection_is_noop(gateway, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert gateway.disconnect("Unknown=").status_code == 200
    assert sessions() == []


# -- the token view -------------------------------------------------------------------------------


def test_token_view_needs_login(client):
    response = client.post("/ws/token/")
    assert response.status_code == 401


def test_token_view_needs_post(client, alice):
    client.force_login(alice)
    assert client.get("/ws/token/").status_code == 405


def test_token_view_is_csrf_protected(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/ws/token/").status_code == 403
    strict.get("/admin/login/")  # sets the csrftoken cookie
    token = strict.cookies["csrftoken"].value
    response = strict.post("/ws/token/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["expires_in"] == 60 and len(body["token"]) >= 40


def test_token_view_mints_usable_token(client, gateway, alice):
    client.force_login(alice)
    raw = json.loads(client.post("/ws/token/").content)["token"]
    client.cookies.clear()  # no cookie; a logout would delete the token
    assert gateway.connect(query=f"token={raw}").status_code == 200
    assert sessions()[0]["user__username"] == "alice"


def test_token_view_rate_limit(client, alice):
    from django.core.cache import cache

    cache.clear()
    client.force_login(alice)
    statuses = [client.post("/ws/token/").status_code for _ in range(32)]
    assert statuses.count(200) == 30 and statuses[-1] == 429
    cache.clear()
