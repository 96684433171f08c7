"""Issue 26 item 6: ``manage.py broadcast --all`` reaches every connected socket.

A broadcast to all sockets was undocumented and the command took only ``--channel``.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.background_support import eager_celery, make_sessions
from tests.fake_management_api import FakeManagementApi
from ws_routes.models import Broadcast
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
def test_bad_input_is_a_clear_error_and_sends_nothing(api, args, error):
    make_sessions(5)
    with pytest.raises(CommandError, match=error):
        run(*args)
    assert not api.received and not Broadcast.objects.exists()
