"""The example chat (example_project/chat): its routes through WsTestClient, its pages, its
settings. The chat has its own Router, so its keys never clash with the test app's."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from example_project.chat import ws as chat_ws
from example_project.devsecrets import dev_secrets
from ws_routes.models import ConnectToken, WebSocketSession
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def chat():
    with WsTestClient(chat_ws.router) as client:
        yield client


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password="pw-carol")


def chat_messages(conn):
    return [p for p in conn.pushed if p.get("type") == "chat.message"]


def presence(conn):
    return [(p["event"], p["user"]["username"]) for p in conn.pushed if p.get("type") == "presence"]


def test_a_message_reaches_everyone_in_the_room_and_no_one_else(chat, alice, bob, carol):
    a = chat.connect(user=alice, channel="room:kitchen")
    b = chat.connect(user=bob, channel="room:kitchen")
    c = chat.connect(user=carol, channel="room:garden")
    reply = a.send("chat.send", {"text": "tea?"}, id=1)
    assert reply.status == 200
    assert reply.body == {"action": "chat.send", "id": 1, "data": {"delivered": 2}}
    [message] = chat_messages(b)
    assert message["from"] == "alice" and message["text"] == "tea?"
    assert message["room"] == "kitchen" and message["at"]
    assert chat_messages(a) == [message]
    assert c.pushed == []


def test_join_and_leave_are_announced_to_the_others(chat, alice, bob):
    a = chat.connect(user=alice, channel="room:kitchen")
    b = chat.connect(user=bob, channel="room:kitchen")
    assert presence(a) == [("join", "bob")]
    assert presence(b) == []  # not to yourself: your socket is not open yet at connect
    b.disconnect()
    assert presence(a) == [("join", "bob"), ("leave", "bob")]
    a.disconnect()  # leaving an empty room pushes to no one
    assert len(chat.pushed) == 2


def test_who_is_online_lists_each_user_of_the_room_once(chat, alice, bob, carol):
    a = chat.connect(user=alice, channel="room:kitchen")
    chat.connect(user=bob, channel="room:kitchen")
    chat.connect(user=bob, channel="room:kitchen")  # a second tab
    gone = chat.connect(user=carol, channel="room:kitchen")
    chat.connect(user=carol, channel="room:garden")
    gone.disconnect()
    reply = a.send("chat.who", id="w")
    assert reply.body == {
        "action": "chat.who",
        "id": "w",
        "data": {"room": "kitchen", "online": ["alice", "bob"]},
    }


def test_who_takes_only_a_room_the_socket_follows(chat, alice):
    conn = chat.connect(user=alice, channel="room:kitchen")
    reply = conn.send("chat.who", {"channel": "room:garden"})
    assert reply.status == 400 and reply.error["code"] == "invalid_message"
    reply = conn.send("chat.who", {"room": "garden"})  # not joined: no peeking
    assert reply.status == 403 and reply.error["code"] == "not_in_room"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"text": ""}, "$.text"),
        ({"text": "   \n\t "}, "$.text"),
        ({"text": "x" * 501}, "$.text"),
        ({"text": 5}, "$.text"),
        ({"text": None}, "$.text"),
        ({"text": ["hi"]}, "$.text"),
        ({}, "$"),
        ({"text": "hi", "from": "bob"}, "$"),  # cannot speak as someone else
    ],
)
def test_invalid_messages_get_invalid_message_and_reach_no_one(chat, alice, bob, body, path):
    a = chat.connect(user=alice, channel="room:kitchen")
    b = chat.connect(user=bob, channel="room:kitchen")
    reply = a.send("chat.send", body, id=9)
    assert reply.status == 400
    assert reply.body["id"] == 9 and reply.body["action"] == "chat.send"
    assert reply.error["code"] == "invalid_message"
    assert [d["path"] for d in reply.error["details"]][:1] == [path]
    assert chat_messages(a) == chat_messages(b) == []


def test_text_limits_count_characters_not_bytes(chat, alice):
    a = chat.connect(user=alice, channel="room:kitchen")
    assert a.send("chat.send", {"text": "é" * 500}).status == 200
    assert a.send("chat.send", {"text": "🙂" * 500}).status == 200
    assert a.send("chat.send", {"text": "🙂" * 501}).status == 400
    assert a.send("chat.send", {"text": "x"}).status == 200
    assert [m["text"][:1] for m in chat_messages(a)] == ["é", "🙂", "x"]


def test_html_is_relayed_as_text_for_the_page_to_escape(chat, alice):
    a = chat.connect(user=alice, channel="room:kitchen")
    a.send("chat.send", {"text": "<img src=x onerror=alert(1)>"})
    assert chat_messages(a)[0]["text"] == "<img src=x onerror=alert(1)>"


def test_anonymous_visitors_cannot_join(chat):
    conn = chat.connect(channel="room:kitchen")
    assert not conn.accepted and conn.response.status_code == 401
    assert not WebSocketSession.objects.exists()
    assert conn.send("chat.send", {"text": "hi"}).status == 410
    assert chat.pushed == []


def test_inactive_users_cannot_use_the_routes(chat, alice, bob):
    a = chat.connect(user=alice, channel="room:kitchen")
    chat.connect(user=bob, channel="room:kitchen")
    alice.is_active = False
    alice.save()
    reply = a.send("chat.send", {"text": "hi"})
    assert reply.status == 401 and reply.error["code"] == "not_authenticated"


def test_browsers_join_with_a_one_time_token(chat, alice, bob):
    b = chat.connect(user=bob, channel="room:lobby")
    token = ConnectToken.mint(alice)
    a = chat.connect(token=token, channel="room:lobby")
    assert a.accepted
    assert presence(b) == [("join", "alice")]
    assert a.send("chat.who").data == {"room": "lobby", "online": ["alice", "bob"]}
    assert not chat.connect(token=token, channel="room:lobby").accepted  # single use


def test_one_socket_follows_several_rooms_and_a_reconnect_misses_nothing(chat, alice, bob):
    a = chat.connect(user=alice)
    assert a.send("channel.subscribe", {"channel": "room:kitchen"}).data["seq"] == 0
    assert a.send("channel.subscribe", {"channel": "room:garden"}).status == 200
    b = chat.connect(user=bob)
    b.send("channel.subscribe", {"channel": "room:kitchen"})
    for room, text in [("kitchen", "one"), ("garden", "two"), ("kitchen", "three")]:
        assert a.send("chat.send", {"room": room, "text": text}).status == 200
    assert [(m["room"], m["text"], m["seq"]) for m in chat_messages(a)] == [
        ("kitchen", "one", 1),
        ("garden", "two", 1),
        ("kitchen", "three", 2),
    ]
    assert [m["text"] for m in chat_messages(b)] == ["one", "three"]
    assert b.send("chat.send", {"room": "garden", "text": "x"}).error["code"] == "not_in_room"
    b.disconnect()
    a.send("chat.send", {"room": "kitchen", "text": "while bob was away"})
    again = chat.connect(user=bob)
    reply = again.send("channel.subscribe", {"channel": "room:kitchen", "since": 2}).data
    assert [m["text"] for m in reply["messages"]] == ["while bob was away"]
    assert reply["gap"] is False
    reload = chat.connect(user=bob)  # a page reload asks for what the room keeps
    reply = reload.send("channel.subscribe", {"channel": "room:kitchen", "since": 0}).data
    assert [m["text"] for m in reply["messages"]] == ["one", "three", "while bob was away"]


def test_a_malformed_room_is_refused(chat, alice):
    for channel in ("a b", "x" * 129, "<script>", "é"):
        assert chat.connect(user=alice, channel=channel).response.status_code == 400
    for channel in ("kitchen", "room:a.b", "room:" + "x" * 65, "ROOM:kitchen", "room:a:b"):
        assert chat.connect(user=alice, channel=channel).response.status_code == 403
    assert not WebSocketSession.objects.exists()


def test_routes_and_hooks_are_plain_functions():
    assert set(chat_ws.router.routes) == {
        "chat.send",
        "chat.who",
        "channel.subscribe",
        "channel.unsubscribe",
        "channel.members",
        "channel.history",
    }
    assert chat_ws.router.routes["chat.send"].handler is chat_ws.send
    assert chat_ws.router.routes["chat.send"].login_required
    assert chat_ws.refuse_anonymous in chat_ws.router.connect_hooks
    [rule] = chat_ws.router.channel_rules
    assert rule.may_join is chat_ws.may_join_room and rule.presence and rule.history_count == 100


# -- pages -----------------------------------------------------------------------------------------


@pytest.fixture
def pages(settings):
    settings.ROOT_URLCONF = "example_project.urls"
    settings.STATIC_URL = "/static/"
    settings.CHAT_WEBSOCKET_URL = "ws://127.0.0.1:8001"
    return Client()


def test_pages_need_a_login(pages):
    for url in ("/", "/room/lobby/"):
        response = pages.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_login_then_room_page(pages, alice):
    response = pages.post(
        "/accounts/login/", {"username": "alice", "password": "pw-alice", "next": "/room/lobby/"}
    )
    assert response.status_code == 302 and response["Location"] == "/room/lobby/"
    page = pages.get("/room/lobby/").content.decode()
    assert 'data-websocket-url="ws://127.0.0.1:8001"' in page
    assert 'data-token-url="/ws/token/"' in page
    assert 'data-room="lobby"' in page
    assert "/static/ws_routes/ws-routes.js" in page and "/static/chat/room.js" in page
    assert 'id="error"' in page


def test_wrong_password_shows_an_error(pages, alice):
    response = pages.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Wrong username or password" in response.content.decode()


def test_room_names_are_checked(pages, alice):
    pages.force_login(alice)
    assert pages.get("/room/" + "x" * 65 + "/").status_code == 404
    assert pages.get("/room/a.b/").status_code == 404
    assert pages.get("/?room=kitchen")["Location"] == "/room/kitchen/"
    page = pages.get("/?room=%3Cscript%3E").content.decode()
    assert "Room names are 1-64" in page and "<script>" not in page


def test_index_lists_rooms_with_people_online(pages, chat, alice, bob):
    chat.connect(user=alice, channel="room:kitchen")
    chat.connect(user=bob, channel="room:kitchen")
    chat.connect(user=bob, channel="room:garden").disconnect()
    pages.force_login(alice)
    page = pages.get("/").content.decode()
    assert "#kitchen" in page and "2 online" in page and "#garden" not in page


def test_the_token_view_is_mounted_and_csrf_protected(settings, alice):
    settings.ROOT_URLCONF = "example_project.urls"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post("/ws/token/").status_code == 403  # no CSRF token
    browser.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    response = browser.post("/ws/token/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    token = response.json()["token"]
    assert ConnectToken.consume(token) == alice


def test_logout_is_a_post(pages, alice):
    pages.force_login(alice)
    assert pages.post("/accounts/logout/").status_code == 302
    assert pages.get("/").status_code == 302


# -- demo users, settings ------------------------------------------------------------------------


def test_demousers_is_idempotent_and_resets_passwords(django_user_model):
    call_command("demousers", stdout=io.StringIO())
    demo = django_user_model.objects.get(username="demo")
    demo.set_password("changed")
    demo.is_active = False
    demo.save()
    call_command("demousers", stdout=io.StringIO())
    assert django_user_model.objects.filter(username__startswith="demo").count() == 2
    for name in ("demo", "demo2"):
        user = django_user_model.objects.get(username=name)
        assert user.check_password(name) and user.is_active


def test_the_example_project_passes_its_checks_and_has_no_missing_migrations(tmp_path):
    env = {
        **os.environ,
        "CHAT_SECRET_KEY": "check-only-" + "k" * 40,
        "CHAT_GATEWAY_SECRET": "check-only-" + "g" * 32,
        "CHAT_DATABASE": str(tmp_path / "db.sqlite3"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage = [sys.executable, str(REPO / "example_project" / "manage.py")]
    for args in (["check", "--fail-level", "WARNING"], ["makemigrations", "--check", "--dry-run"]):
        result = subprocess.run(
            manage + args, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_dev_secrets_are_generated_once_and_private(tmp_path):
    path = tmp_path / "secrets.json"
    first = dev_secrets(path)
    assert len(first["gateway_secret"]) >= 32 and len(first["secret_key"]) >= 50
    assert dev_secrets(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert dev_secrets(tmp_path / "other.json") != first
