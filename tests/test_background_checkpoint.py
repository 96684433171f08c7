"""Shard checkpoints (issue 24 item 4): every ``SHARD_CHECKPOINT`` posts a running shard
records the last primary key sent and its counts (one UPDATE), so a shard redelivered after
its worker died resumes there: at most one checkpoint interval is sent twice, not the shard.

A real worker SIGKILLed mid-shard: tests/test_background_worker.py; the figures under load:
``make bench-distributed`` (bench/RESULTS.md).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.background_support import make_sessions
from tests.fake_management_api import FakeManagementApi
from ws_routes import sending
from ws_routes.broadcasting import runner
from ws_routes.broadcasting.enqueue import enqueue_broadcast
from ws_routes.broadcasting.records import BroadcastShard
from ws_routes.models import Broadcast, WebSocketSession
from ws_routes.sending import reset_sender

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_sender()
    yield
    reset_sender()


@pytest.fixture
def api(settings):
    with FakeManagementApi() as fake:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": fake.url + "/{api_id}/{stage}",
            "SEND_BACKOFF_BASE_SECONDS": 0.001,
            "SEND_BACKOFF_MAX_SECONDS": 0.004,
            "BACKGROUND_SHARD_SIZE": 1000,
            "SHARD_CHECKPOINT": 40,
        }
        yield fake


class Killed(BaseException):
    """The worker process dying (SIGKILL): nothing after it runs, no ``except Exception``."""


def one_shard(count: int) -> tuple[Broadcast, int]:
    make_sessions(count)
    broadcast = enqueue_broadcast(
        WebSocketSession.objects.filter(channel_name="lobby"), {"n": 1}, publish=False
    )
    [shard_id] = runner.start_broadcast(broadcast.pk)
    return broadcast, shard_id


def die_during_chunk(monkeypatch, chunk: int, posts: int) -> None:
    """The worker dies in its ``chunk``-th chunk (from 1), after ``posts`` of its posts."""
    real = sending.send_to_queryset
    calls = Counter[str]()

    def send(queryset, data, **kwargs):
        calls["chunk"] += 1
        if calls["chunk"] == chunk:
            first = list(queryset.order_by("pk").values_list("pk", flat=True)[:posts])
            real(queryset.filter(pk__in=first), data, **kwargs)
            raise Killed
        return real(queryset, data, **kwargs)

    monkeypatch.setattr(sending, "send_to_queryset", send)


def expire_lease(shard_id: int) -> None:
    BroadcastShard.objects.filter(pk=shard_id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )


def take_over(shard_id: int) -> None:
    """The dead worker's lease ends; the redelivered task runs the shard."""
    expire_lease(shard_id)
    assert runner.run_shard(shard_id).ran


def test_a_worker_killed_mid_shard_is_resumed_from_its_checkpoint(api, monkeypatch):
    broadcast, shard_id = one_shard(250)
    die_during_chunk(monkeypatch, chunk=3, posts=25)  # 80 recorded, 25 more sent, then dead
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    shard = BroadcastShard.objects.get(pk=shard_id)
    assert (shard.state, shard.delivered, shard.attempts) == ("running", 80, 1)
    first_80 = WebSocketSession.objects.order_by("pk").values_list("pk", flat=True)[79]
    assert shard.checkpoint_pk == first_80
    monkeypatch.undo()
    take_over(shard_id)
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.total, broadcast.delivered) == ("finished", 250, 250)
    assert broadcast.accounted == 250
    received = Counter(r.connection_id for r in api.received)
    assert len(received) == 250  # everyone
    duplicates = sum(received.values()) - 250
    assert duplicates == 25 <= broadcast.possible_duplicates == 40  # the checkpoint interval
    # The checkpointed ones were not sent again.
    sessions = WebSocketSession.objects.order_by("pk").values_list("connection_id", flat=True)
    assert all(received[cid] == 1 for cid in sessions[:80])


def test_killed_right_after_a_chunk_sends_at_most_one_interval_twice(api, monkeypatch):
    broadcast, shard_id = one_shard(200)
    die_during_chunk(monkeypatch, chunk=2, posts=40)  # chunk 2 sent whole, not recorded
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    monkeypatch.undo()
    take_over(shard_id)
    broadcast.refresh_from_db()
    received = Counter(r.connection_id for r in api.received)
    assert (broadcast.delivered, len(received)) == (200, 200)
    assert sum(received.values()) - 200 == 40 == broadcast.possible_duplicates


def test_a_second_death_resumes_from_the_later_checkpoint(api, monkeypatch):
    broadcast, shard_id = one_shard(250)
    die_during_chunk(monkeypatch, chunk=2, posts=10)
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    monkeypatch.undo()
    die_during_chunk(monkeypatch, chunk=3, posts=5)  # resumed at 40: dies in 120..160
    expire_lease(shard_id)
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    assert BroadcastShard.objects.get(pk=shard_id).delivered == 120
    monkeypatch.undo()
    take_over(shard_id)
    broadcast.refresh_from_db()
    received = Counter(r.connection_id for r in api.received)
    assert (broadcast.delivered, broadcast.accounted, len(received)) == (250, 250, 250)
    assert sum(received.values()) - 250 == 15 <= broadcast.possible_duplicates == 80


def test_one_checkpoint_update_per_interval_with_the_counts(api):
    broadcast, shard_id = one_shard(250)
    with CaptureQueriesContext(connection) as queries:
        assert runner.run_shard(shard_id).ran
    checkpoints = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "checkpoint_pk" in q["sql"]
    ]
    assert len(checkpoints) == 6  # after posts 40, 80, ..., 240; the last 10 end the shard
    assert all('"delivered"' in sql and '"lease_until"' in sql for sql in checkpoints)
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered, broadcast.possible_duplicates) == (
        "finished",
        250,
        0,
    )


def test_a_checkpoint_interval_above_the_shard_writes_none(api, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SHARD_CHECKPOINT": 100_000}
    broadcast, shard_id = one_shard(250)
    with CaptureQueriesContext(connection) as queries:
        assert runner.run_shard(shard_id).ran
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in updates if "checkpoint_pk" in sql]
    assert updates  # the claim and the record still write
    broadcast.refresh_from_db()
    assert broadcast.delivered == 250


def test_an_attempt_that_lost_its_lease_stops_at_its_next_checkpoint(api, monkeypatch):
    broadcast, shard_id = one_shard(200)
    real = sending.send_to_queryset
    chunks = Counter[str]()

    def send(queryset, data, **kwargs):
        chunks["n"] += 1
        if chunks["n"] == 1:  # meanwhile another worker took the shard over
            BroadcastShard.objects.filter(pk=shard_id).update(attempts=5)
        return real(queryset, data, **kwargs)

    monkeypatch.setattr(sending, "send_to_queryset", send)
    run = runner.run_shard(shard_id)
    assert not run.ran and chunks["n"] == 1
    assert len(api.received) == 40  # one chunk, then it stopped


def test_a_shard_failed_after_checkpoints_keeps_what_was_delivered(api, settings, monkeypatch):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_MAX_ATTEMPTS": 1}
    broadcast, shard_id = one_shard(100)
    real = sending.send_to_queryset
    chunks = Counter[str]()

    def send(queryset, data, **kwargs):
        chunks["n"] += 1
        if chunks["n"] == 3:
            raise RuntimeError("endpoint on fire")
        return real(queryset, data, **kwargs)

    monkeypatch.setattr(sending, "send_to_queryset", send)
    assert runner.run_shard(shard_id).failed
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered, broadcast.failed) == ("failed", 80, 20)
    assert broadcast.accounted == broadcast.total == 100
    assert "endpoint on fire" in broadcast.error


HOSTILE = [0, -1, -(10**100), "100", "", 1.5, None, True, [100], 10**100, 100_001]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_checkpoint_settings_are_refused_before_anything_is_written(api, settings, value):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SHARD_CHECKPOINT": value}
    make_sessions(3)
    with pytest.raises(ImproperlyConfigured, match=r"WS_ROUTES\['SHARD_CHECKPOINT'\] must be"):
        WebSocketSession.objects.filter(channel_name="lobby").send({"n": 1}, background=True)
    assert not Broadcast.objects.exists() and not api.received
    errors = [e for e in run_checks() if e.id == "ws_routes.E025"]
    assert len(errors) == 1 and "SHARD_CHECKPOINT" in errors[0].msg
    assert len(errors[0].msg) < 200  # a huge value is not printed in full


@pytest.mark.parametrize("value", [0, "100", 10**100])
def test_a_worker_with_a_hostile_checkpoint_fails_the_shard_saying_why(api, settings, value):
    broadcast, shard_id = one_shard(30)  # enqueued while the setting was valid
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SHARD_CHECKPOINT": value}
    assert runner.run_shard(shard_id).failed
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.failed) == ("failed", 30)
    assert "SHARD_CHECKPOINT" in broadcast.error and not api.received


def test_valid_checkpoint_settings_pass_the_check(settings):
    for value in (1, 100, 100_000):
        settings.WS_ROUTES = {**settings.WS_ROUTES, "SHARD_CHECKPOINT": value}
        assert not [e for e in run_checks() if e.id == "ws_routes.E025"]


def test_a_cancel_after_a_failed_attempt_keeps_what_its_checkpoints_counted(api, monkeypatch):
    broadcast, shard_id = one_shard(100)
    real = sending.send_to_queryset
    chunks = Counter[str]()

    def send(queryset, data, **kwargs):
        chunks["n"] += 1
        if chunks["n"] == 2:
            raise RuntimeError("endpoint on fire")
        return real(queryset, data, **kwargs)

    monkeypatch.setattr(sending, "send_to_queryset", send)
    with pytest.raises(RuntimeError):
        runner.run_shard(shard_id)  # given back, to be retried from its checkpoint at 40
    assert BroadcastShard.objects.get(pk=shard_id).state == "pending"
    broadcast.refresh_from_db()
    assert broadcast.cancel() == 60
    assert (broadcast.state, broadcast.delivered, broadcast.cancelled) == ("cancelled", 40, 60)
    assert broadcast.accounted == broadcast.total == 100
