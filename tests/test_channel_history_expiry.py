"""Issue 19 item 3: history is bounded across channels, not only per channel.

Before, a logged-in user could create history rows in any number of channel names and idle
channels were never swept. Now history older than ``HISTORY_MAX_AGE_SECONDS`` is deleted (a
batch with each pruning write, all of it by ``clearWebSocketSessions``) and one user may start
at most ``HISTORY_NEW_CHANNELS_PER_USER`` new history channels per window.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.checks import run_checks
from django.core.management import call_command
from django.utils import timezone

from ws_routes import Channel, Router
from ws_routes.channel_rules import find_channel_rule
from ws_routes.channels import history
from ws_routes.models import ChannelMessage
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db

router = Router(app_name="history_expiry_tests")  # module level: the rule registry is weak
router.add_channel("hx:{name}", history=50)


@router.route("hx.say")
def say(request, body):
    return {"seq": Channel(body["channel"]).send({"t": body.get("t", 0)}).total}


def old_rows(channel: str, count: int, age: timedelta) -> None:
    created = timezone.now() - age
    ChannelMessage.objects.bulk_create(
        ChannelMessage(channel=channel, seq=n, data="{}", created_at=created)
        for n in range(1, count + 1)
    )


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_clearwebsocketsessions_deletes_expired_history_of_every_channel_idle_ones_included():
    old_rows("hx:idle", 7, timedelta(days=2))
    old_rows("hx:other", 3, timedelta(hours=25))
    old_rows("hx:recent", 4, timedelta(hours=1))
    out = io.StringIO()
    call_command("clearWebSocketSessions", "--dry-run", stdout=out)
    assert "Would delete 10 expired history messages." in out.getvalue()
    assert ChannelMessage.objects.count() == 14
    call_command("clearWebSocketSessions", stdout=out)
    assert "Deleted 10 expired history messages." in out.getvalue()
    assert list(ChannelMessage.objects.values_list("channel", flat=True).distinct()) == [
        "hx:recent"
    ]


def test_the_max_age_is_a_setting_and_none_keeps_what_the_rules_keep(settings):
    old_rows("hx:idle", 3, timedelta(days=2))
    settings.WS_ROUTES = {**settings.WS_ROUTES, "HISTORY_MAX_AGE_SECONDS": None}
    call_command("clearWebSocketSessions", stdout=io.StringIO())
    assert ChannelMessage.objects.count() == 3
    settings.WS_ROUTES = {**settings.WS_ROUTES, "HISTORY_MAX_AGE_SECONDS": 3 * 24 * 3600}
    call_command("clearWebSocketSessions", stdout=io.StringIO())
    assert ChannelMessage.objects.count() == 3
    settings.WS_ROUTES = {**settings.WS_ROUTES, "HISTORY_MAX_AGE_SECONDS": 60}
    call_command("clearWebSocketSessions", stdout=io.StringIO())
    assert ChannelMessage.objects.count() == 0


def test_a_pruning_write_expires_a_bounded_batch_of_other_channels(monkeypatch):
    monkeypatch.setattr(history, "EXPIRY_BATCH", 4)
    old_rows("hx:idle", 10, timedelta(days=2))
    rule = find_channel_rule("hx:busy")
    interval = history.prune_interval(rule)
    for _ in range(interval - 1):
        Channel("hx:busy").send({"n": 1})
    assert ChannelMessage.objects.filter(channel="hx:idle").count() == 10  # not on every write
    Channel("hx:busy").send({"n": 1})  # the pruning write
    assert ChannelMessage.objects.filter(channel="hx:idle").count() == 6
    assert ChannelMessage.objects.filter(channel="hx:busy").count() == interval


def test_expired_rows_not_yet_deleted_are_not_replayed():
    old_rows("hx:stale", 3, timedelta(days=2))
    Channel("hx:stale").send({"n": "fresh"})
    rule = find_channel_rule("hx:stale")
    answer = history.replay(rule, "hx:stale", 0, 96 * 1024)
    assert [m["seq"] for m in answer["messages"]] == [4]
    assert answer["gap"] is True


def test_one_user_may_start_only_so_many_new_history_channels_per_window(settings, alice, bob):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "HISTORY_NEW_CHANNELS_PER_USER": (3, 60)}
    with WsTestClient(router) as ws:
        conn = ws.connect(user=alice)
        for n in range(3):
            assert conn.send("hx.say", {"channel": f"hx:a{n}"}, id=n).error is None
        refused = conn.send("hx.say", {"channel": "hx:a3"}, id=3)
        assert refused.error["code"] == "too_many_channels"
        assert not ChannelMessage.objects.filter(channel="hx:a3").exists()
        # Channels already started take more messages; other users have their own budget.
        assert conn.send("hx.say", {"channel": "hx:a0"}, id=4).error is None
        other = ws.connect(user=bob)
        assert other.send("hx.say", {"channel": "hx:b0"}, id=5).error is None
    assert ChannelMessage.objects.filter(channel="hx:a0").count() == 2
    # Server code (no acting user) is not counted.
    for n in range(5):
        Channel(f"hx:server{n}").send({"n": n})
    assert ChannelMessage.objects.filter(channel__startswith="hx:server").count() == 5


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HISTORY_MAX_AGE_SECONDS", 0),
        ("HISTORY_MAX_AGE_SECONDS", "1d"),
        ("HISTORY_MAX_AGE_SECONDS", True),
        ("HISTORY_NEW_CHANNELS_PER_USER", 100),
        ("HISTORY_NEW_CHANNELS_PER_USER", (100,)),
        ("HISTORY_NEW_CHANNELS_PER_USER", (0, 60)),
        ("HISTORY_NEW_CHANNELS_PER_USER", ("100", 60)),
    ],
)
def test_bad_budgets_are_system_check_errors(settings, key, value):
    settings.WS_ROUTES = {**settings.WS_ROUTES, key: value}
    ids = {message.id for message in run_checks()}
    assert {"ws_routes.E008", "ws_routes.E009"} & ids
