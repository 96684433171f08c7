"""Issue 10 item 3: a socket belongs to the login that opened it.

CONNECT stores the user's session auth hash; every MESSAGE compares it (constant time) with the
hash of the user row its one query loaded. A mismatch makes the socket anonymous (as Django makes
a request anonymous when its session's hash no longer matches). A logout or a password change
closes the user's sockets through the management API (here a real loopback server that checks
SigV4, tests/fake_management_api.py).
"""

from __future__ import annotations

import json

import pytest

from tests.fake_management_api import FakeManagementApi
from ws_routes.login_signals import disconnect_user_sockets
from ws_routes.models import ConnectToken, Subscription, WebSocketSession
from ws_routes.sending import reset_sender

pytestmark = pytest.mark.django_db


def reply(response):
    return json.loads(response.content) if response.content else None


@pytest.fixture
def cookie_conn(gateway, alice):
    gateway.client.force_login(alice)
    response = gateway.connect(query="channel=lobby")
    assert response.status_code == 200
    return response.connection_id


def test_connect_stores_the_login_binding(cookie_conn, alice):
    session = WebSocketSession.objects.get(connection_id=cookie_conn)
    assert session.login_binding == alice.get_session_auth_hash()


def test_anonymous_sockets_are_bound_to_nothing(gateway):
    response = gateway.connect()
    assert WebSocketSession.objects.get(connection_id=response.connection_id).login_binding == ""


def test_a_password_change_makes_the_socket_anonymous(
    gateway, cookie_conn, alice, django_assert_num_queries
):
    with django_assert_num_queries(1):
        before = gateway.message(cookie_conn, {"action": "echo"})
    assert reply(before)["data"]["user"] == "alice"
    alice.set_password("a-new-password")
    alice.save()
    with django_assert_num_queries(1):  # still the one query, no write
        after = gateway.message(cookie_conn, {"action": "echo", "id": 4})
    assert after.status_code == 200 and reply(after)["data"]["user"] is None
    refused = gateway.message(cookie_conn, {"action": "chat.send", "text": "hi", "id": 5})
    assert refused.status_code == 401
    assert reply(refused)["error"]["code"] == "not_authenticated"
    assert reply(refused)["id"] == 5


def test_a_tampered_binding_is_anonymous(gateway, cookie_conn):
    WebSocketSession.objects.filter(connection_id=cookie_conn).update(login_binding="0" * 64)
    assert reply(gateway.message(cookie_conn, {"action": "echo"}))["data"]["user"] is None
    WebSocketSession.objects.filter(connection_id=cookie_conn).update(login_binding="")
    assert reply(gateway.message(cookie_conn, {"action": "echo"}))["data"]["user"] is None


def test_a_token_opened_socket_binds_the_same_way(gateway, alice):
    raw = ConnectToken.mint(alice)
    response = gateway.connect(query=f"token={raw}")
    assert response.status_code == 200
    cid = response.connection_id
    assert reply(gateway.message(cid, {"action": "echo"}))["data"]["user"] == "alice"
    alice.set_password("changed")
    alice.save()
    assert reply(gateway.message(cid, {"action": "echo"}))["data"]["user"] is None


def test_a_password_change_voids_unused_tokens(gateway, alice, bob):
    raw = ConnectToken.mint(alice)
    kept = ConnectToken.mint(bob)
    alice.set_password("changed")
    alice.save()
    assert gateway.connect(query=f"token={raw}").status_code == 401
    assert gateway.connect(query=f"token={kept}").status_code == 200


def test_saving_a_user_without_a_password_change_keeps_everything(gateway, cookie_conn, alice):
    raw = ConnectToken.mint(alice)
    alice.first_name = "Alice"
    alice.save()
    assert reply(gateway.message(cookie_conn, {"action": "echo"}))["data"]["user"] == "alice"
    assert gateway.connect(query=f"token={raw}").status_code == 200


# -- the management API closes the sockets --------------------------------------------------------


@pytest.fixture
def management_api(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_sender()
    with FakeManagementApi() as fake:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": fake.url + "/{api_id}/{stage}",
            "SEND_TIMEOUT_SECONDS": 2.0,
        }
        yield fake
    reset_sender()


def test_logout_disconnects_the_users_sockets(
    gateway, alice, bob, management_api, django_capture_on_commit_callbacks
):
    gateway.client.force_login(bob)
    bobs = gateway.connect().connection_id
    gateway.client.force_login(alice)
    first = gateway.connect().connection_id
    second = gateway.connect().connection_id
    with django_capture_on_commit_callbacks(execute=True):
        gateway.client.logout()
    deleted = sorted(r.connection_id for r in management_api.received if r.method == "DELETE")
    assert deleted == sorted([first, second])
    assert all(r.signature_ok for r in management_api.received)
    assert set(
        WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True)
    ) == {bobs}


def test_a_password_change_disconnects_the_users_sockets(
    gateway, cookie_conn, alice, management_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alice.set_password("changed")
        alice.save()
    assert [r.connection_id for r in management_api.received] == [cookie_conn]
    assert not WebSocketSession.objects.get(connection_id=cookie_conn).connected


def test_a_logout_never_fails_because_the_management_api_is_down(
    gateway, cookie_conn, alice, settings, django_capture_on_commit_callbacks, caplog
):
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "MANAGEMENT_ENDPOINT": "http://127.0.0.1:9/{api_id}/{stage}",  # discard: refused
        "SEND_TIMEOUT_SECONDS": 0.5,
        "SEND_MAX_RETRIES": 0,
    }
    with django_capture_on_commit_callbacks(execute=True):
        gateway.client.logout()
    assert WebSocketSession.objects.get(connection_id=cookie_conn).connected  # left as it was
    assert disconnect_user_sockets(alice) == 0


def test_logout_of_an_anonymous_request_does_nothing(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.logout()
    assert callbacks == []


# -- issue 19 item 4: the binding holds in the database, and delivery follows it -----------------


def test_logout_voids_the_users_unused_connect_tokens(gateway, alice, bob):
    raw = ConnectToken.mint(alice)
    kept = ConnectToken.mint(bob)
    gateway.client.force_login(alice)
    gateway.client.logout()
    assert gateway.connect(query=f"token={raw}").status_code == 401
    assert gateway.connect(query=f"token={kept}").status_code == 200


def test_with_the_management_api_down_the_socket_is_anonymous_after_logout(
    gateway, cookie_conn, alice, settings, django_capture_on_commit_callbacks
):
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "MANAGEMENT_ENDPOINT": "http://127.0.0.1:9/{api_id}/{stage}",  # refused: AWS is down
        "SEND_TIMEOUT_SECONDS": 0.5,
        "SEND_MAX_RETRIES": 0,
    }
    gateway.client.cookies.clear()  # the gateway's posts carry no cookie
    assert reply(gateway.message(cookie_conn, {"action": "echo"}))["data"]["user"] == "alice"
    gateway.client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        gateway.client.logout()
    gateway.client.cookies.clear()
    session = WebSocketSession.objects.get(connection_id=cookie_conn)
    assert session.connected and session.user_id is None and session.login_binding == ""
    assert reply(gateway.message(cookie_conn, {"action": "echo"}))["data"]["user"] is None
    refused = gateway.message(cookie_conn, {"action": "chat.send", "text": "hi", "id": 1})
    assert refused.status_code == 401


def test_logout_unbinds_in_one_update(gateway, alice, django_assert_max_num_queries):
    from django.contrib.auth.signals import user_logged_out
    from django.test import RequestFactory

    gateway.client.force_login(alice)
    for _ in range(3):
        gateway.connect()
    request = RequestFactory().get("/")
    # token delete, open sockets select, one UPDATE, user:{id} subscriptions delete
    with django_assert_max_num_queries(4):
        user_logged_out.send(sender=type(alice), request=request, user=alice)
    assert not WebSocketSession.objects.filter(user=alice).exists()


def break_binding_by_password(user):
    user.set_password("changed-password")
    user.save()


def break_binding_by_deactivation(user):
    user.is_active = False
    user.save()


def break_binding_by_logout(user):
    from django.contrib.auth.signals import user_logged_out
    from django.test import RequestFactory

    user_logged_out.send(sender=type(user), request=RequestFactory().get("/"), user=user)


@pytest.mark.parametrize(
    "break_binding",
    [break_binding_by_password, break_binding_by_deactivation, break_binding_by_logout],
)
def test_delivery_to_the_user_stops_reaching_a_socket_whose_binding_broke(
    gateway, alice, bob, management_api, break_binding, django_capture_on_commit_callbacks
):
    """Even when the DELETE never happens (AWS down: its on-commit call is not run here)."""
    from tests import channel_fixtures  # noqa: F401 - croom:{name}, a presence channel
    from ws_routes.channels import Channel, send_to_user, user_channel
    from ws_routes.channels.presence import members

    gateway.client.force_login(alice)
    alices = gateway.connect(query=f"channel={user_channel(alice)}").connection_id
    Subscription.objects.create(
        session=WebSocketSession.objects.get(connection_id=alices), channel="croom:k", slot=1
    )
    gateway.client.force_login(bob)
    bobs = gateway.connect(query="channel=croom:k").connection_id
    assert sorted(m["username"] for m in members("croom:k")) == ["alice", "bob"]
    with django_capture_on_commit_callbacks(execute=True):
        assert send_to_user(alice, {"n": 1}).delivered == 1
    with django_capture_on_commit_callbacks(execute=False):  # the DELETE never runs
        break_binding(alice)
    management_api.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_to_user(alice, {"n": 2}).total == 0
        assert Channel(user_channel(alice)).send({"n": 3}).total == 0
    assert not [r for r in management_api.received if r.connection_id == alices]
    assert [m["username"] for m in members("croom:k")] == ["bob"]
    assert WebSocketSession.objects.filter(connection_id=bobs, user=bob).exists()
