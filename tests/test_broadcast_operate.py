"""``manage.py broadcast`` (in-process and background, progress bar, ``--all``) and the Broadcast
admin (list with progress, Cancel only with the permission)."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from tests.background_support import eager_celery, make_sessions
from tests.fake_management_api import FakeManagementApi
from ws_routes.broadcasting.enqueue import enqueue_broadcast
from ws_routes.models import Broadcast, WebSocketSession
from ws_routes.sending import reset_sender

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    reset_sender()
    with FakeManagementApi() as fake:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": fake.url + "/{api_id}/{stage}",
            "BACKGROUND_SHARD_SIZE": 100,
        }
        yield fake
    reset_sender()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("broadcast", *args, stdout=out)
    return out.getvalue()


def test_in_process_broadcast_shows_progress_and_counts(api):
    make_sessions(250)
    make_sessions(2, prefix="gone-")
    make_sessions(3, prefix="x", channel="other")
    out = run("--channel", "lobby", "--data", '{"text": "hi"}')
    assert "252 recipients" in out
    assert out.count("delivered") >= 3  # a line per shard
    assert "252/252 delivered 250 gone 2 failed 0" in out and "state: finished" in out
    assert len(api.received) == 252
    assert json.loads(api.received[0].body) == {"text": "hi", "channel": "lobby"}  # a channel push


def test_background_broadcast_with_wait(api, tmp_path):
    make_sessions(120)
    message = tmp_path / "m.json"
    message.write_text('{"n": 1}', encoding="utf-8")
    with eager_celery():
        out = run("--channel", "lobby", "--file", str(message), "--background", "--wait")
    assert "120/120 delivered 120" in out and "state: finished" in out


@pytest.mark.parametrize(
    "args, error",
    [
        (["--channel", "lobby", "--data", "{nope"], "not valid JSON"),
        (["--channel", "lobby", "--data", json.dumps({"b": "x" * 140_000})], "128"),
        (["--channel", "lobby", "--file", "/nonexistent/m.json"], "cannot read"),
        (["--channel", "", "--data", "{}"], "--channel"),
        (["--channel", "l" * 500, "--data", "{}"], "--channel"),
    ],
)
def test_bad_input_is_a_clear_error_and_sends_nothing(api, args, error):
    make_sessions(5)
    with pytest.raises(CommandError, match=error):
        run(*args)
    assert not api.received and not Broadcast.objects.exists()


def test_file_that_is_not_utf8_is_refused(api, tmp_path):
    bad = tmp_path / "m.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(CommandError, match="cannot read"):
        run("--channel", "lobby", "--file", str(bad))


def test_admin_lists_broadcasts_and_cancel_needs_the_permission(api, client, django_user_model):
    make_sessions(300)
    broadcast = enqueue_broadcast(WebSocketSession.objects.all(), {"n": 1}, publish=False)
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_broadcast"))
    client.force_login(staff)
    page = client.get("/admin/ws_routes/broadcast/")
    assert page.status_code == 200 and b"counting" in page.content  # not counted before start
    assert b"cancel_broadcasts" not in page.content  # no permission, no action
    action = {"action": "cancel_broadcasts", "_selected_action": [broadcast.pk]}
    client.post("/admin/ws_routes/broadcast/", action)
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.ENQUEUED
    staff.user_permissions.add(Permission.objects.get(codename="cancel_broadcast"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert b"cancel_broadcasts" in client.get("/admin/ws_routes/broadcast/").content
    client.post("/admin/ws_routes/broadcast/", action)
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.CANCELLED
    assert broadcast.cancelled == broadcast.total == 300 and broadcast.finished_at
    assert client.get(f"/admin/ws_routes/broadcast/{broadcast.pk}/change/").status_code == 200


# -- --all (issue 26 item 6): every connected socket, whatever its channel ----------------------


def test_all_reaches_every_connected_socket_whatever_its_channel(api):
    make_sessions(120)
    make_sessions(3, prefix="x", channel="other")
    make_sessions(2, prefix="n", channel="")  # no channel at all
    make_sessions(4, prefix="closed", connected=False)
    out = run("--all", "--data", '{"type": "notice", "text": "deploying"}')
    assert "125 recipients" in out and "125/125 delivered 125" in out and "state: finished" in out
    assert len(api.received) == 125
    assert {r.connection_id[:1] for r in api.received} == {"c", "x", "n"}
    assert json.loads(api.received[0].body) == {"type": "notice", "text": "deploying"}  # as given
    assert Broadcast.objects.get().description == "all sockets"


def test_all_in_the_background(api):
    make_sessions(30)
    with eager_celery():
        out = run("--all", "--data", '{"n": 1}', "--background", "--wait")
    assert "30/30 delivered 30" in out and "state: finished" in out


@pytest.mark.parametrize(
    "args, error",
    [
        (["--all", "--channel", "lobby", "--data", "{}"], "not allowed with"),
        (["--data", "{}"], "one of the arguments"),
        (["--all", "--data", "[1]"], "JSON object"),
        (["--all", "--data", "{nope"], "not valid JSON"),
    ],
)
def test_bad_all_input_is_a_clear_error_and_sends_nothing(api, args, error):
    make_sessions(5)
    with pytest.raises(CommandError, match=error):
        run(*args)
    assert not api.received and not Broadcast.objects.exists()
