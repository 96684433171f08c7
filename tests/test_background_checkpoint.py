"""Shard checkpoints (issue 24 item 4): a shard is sent as one stream in primary key order, no
post starting more than ``SHARD_CHECKPOINT`` recipients past its last recorded checkpoint, so a
shard redelivered after its worker died resumes there and sends at most ``SHARD_CHECKPOINT``
posts twice, not the shard. A checkpoint (the last primary key of the recipients all answered
and the counts, one UPDATE) is recorded every ``SHARD_CHECKPOINT - min(SEND_CONCURRENCY,
SHARD_CHECKPOINT // 2)`` recipients while the next posts go on.

A real worker SIGKILLed mid-shard: tests/test_background_worker.py; the figures under load:
``make bench-distributed`` (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
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
from tests.scripted_transport import ScriptedPosts
from ws_routes.broadcasting import runner
from ws_routes.broadcasting.checkpoint import resend_bound
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
            "SHARD_CHECKPOINT": BOUND,
            "SEND_CONCURRENCY": CONCURRENCY,
        }
        yield fake


CONCURRENCY = 5
#: SHARD_CHECKPOINT: what a dead attempt may have sent past its last recorded checkpoint.
BOUND = 40
#: Rows between two checkpoints: 40 - min(5, 40 // 2), the other 5 posting while one is written.
EVERY = 35


class Killed(BaseException):
    """The worker process dying (SIGKILL): nothing after it runs, no ``except Exception``."""


def one_shard(count: int) -> tuple[Broadcast, int]:
    make_sessions(count)
    broadcast = enqueue_broadcast(
        WebSocketSession.objects.filter(channel_name="lobby"), {"n": 1}, publish=False
    )
    [shard_id] = runner.start_broadcast(broadcast.pk)
    return broadcast, shard_id


def die_at_checkpoint(
    monkeypatch, number: int | None, death: BaseException | None = None
) -> list[int]:
    """The worker dies (``death`` is raised) as it is about to record its ``number``-th
    checkpoint (from 1; None: never): the ones before it are recorded, the posts after them
    were sent. Returns the last primary keys of the checkpoints asked for (the dying one too)."""
    real = runner.checkpoint_shard
    asked: list[int] = []

    def checkpoint(shard, last_pk, counts, lease):
        asked.append(last_pk)
        if len(asked) == number:
            raise death or Killed()
        return real(shard, last_pk, counts, lease)

    monkeypatch.setattr(runner, "checkpoint_shard", checkpoint)
    return asked


def pks() -> list[int]:
    return list(WebSocketSession.objects.order_by("pk").values_list("pk", flat=True))


def expire_lease(shard_id: int) -> None:
    BroadcastShard.objects.filter(pk=shard_id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )


def take_over(shard_id: int) -> None:
    """The dead worker's lease ends; the redelivered task runs the shard."""
    expire_lease(shard_id)
    assert runner.run_shard(shard_id).ran


def test_a_worker_killed_mid_shard_is_resumed_from_its_checkpoint(api, monkeypatch):
    make_sessions(30, prefix="a")
    make_sessions(10, prefix="gone-")  # answered 410, before the checkpoint
    broadcast, shard_id = one_shard(210)
    die_at_checkpoint(monkeypatch, 3)  # 70 recorded, the posts after them sent, then dead
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    shard = BroadcastShard.objects.get(pk=shard_id)
    assert (shard.state, shard.delivered, shard.gone, shard.attempts) == ("running", 60, 10, 1)
    assert shard.checkpoint_pk == pks()[2 * EVERY - 1]
    sent_by_the_dead = len(api.received)
    assert 3 * EVERY <= sent_by_the_dead <= 2 * EVERY + BOUND  # the third interval answered
    monkeypatch.undo()
    take_over(shard_id)
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.total) == ("finished", 250)
    # Counted once: the 10 gone ones before the checkpoint are not counted again.
    assert (broadcast.delivered, broadcast.gone, broadcast.failed) == (240, 10, 0)
    received = Counter(r.connection_id for r in api.received)
    assert len(received) == 250  # everyone
    duplicates = sum(received.values()) - 250
    assert duplicates == sent_by_the_dead - 2 * EVERY <= broadcast.possible_duplicates == BOUND
    # The checkpointed ones were not sent again.
    sessions = WebSocketSession.objects.order_by("pk").values_list("connection_id", flat=True)
    assert all(received[cid] == 1 for cid in sessions[: 2 * EVERY])


@pytest.mark.parametrize(
    ("checkpoint", "concurrency", "every"),
    [
        (BOUND, CONCURRENCY, EVERY),
        (10, 16, 5),  # more posts in flight than the bound: the window, not them, decides
        (2, 8, 1),
        (1, 8, 1),  # the window is the interval: each post waits for the last checkpoint
    ],
)
def test_killed_with_the_window_full_sends_exactly_the_bound_twice(
    api, settings, monkeypatch, checkpoint, concurrency, every
):
    """The worst case, pinned: the post right after the first checkpoint hangs, the others
    are answered, so the window fills (``SHARD_CHECKPOINT`` posts past the checkpoint) and no
    further post starts; the worker dies before it can record more. All of them, and not one
    more, are sent again."""
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "SHARD_CHECKPOINT": checkpoint,
        "SEND_CONCURRENCY": concurrency,
    }
    broadcast, shard_id = one_shard(250)
    sessions = list(WebSocketSession.objects.order_by("pk").values_list("connection_id", flat=True))
    window_edge = every + checkpoint

    def at_the_window_edge(posts: ScriptedPosts, connection_id: str) -> None:
        if len(posts.started) == window_edge:  # let a too-wide window show, then answer
            asyncio.get_running_loop().call_later(0.2, posts.release)

    posts = ScriptedPosts(hold=frozenset([sessions[every]]), on_start=at_the_window_edge)
    die_at_checkpoint(monkeypatch, 2)  # dies as it is about to record the second checkpoint
    with pytest.raises(Killed):
        runner.run_shard(shard_id, transport=posts)
    assert posts.started == sessions[:window_edge]  # the window, in order, not one more
    shard = BroadcastShard.objects.get(pk=shard_id)
    assert (shard.delivered, shard.checkpoint_pk) == (every, pks()[every - 1])
    assert len(posts.started) - shard.delivered == checkpoint  # started past the checkpoint
    monkeypatch.undo()
    expire_lease(shard_id)
    resumed = ScriptedPosts()
    assert runner.run_shard(shard_id, transport=resumed).ran
    assert resumed.started == sessions[every:]  # resumed after the checkpoint
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered, broadcast.accounted) == ("finished", 250, 250)
    sent_twice = set(posts.started) & set(resumed.started)
    assert len(sent_twice) == checkpoint == broadcast.possible_duplicates


def test_a_second_death_resumes_from_the_later_checkpoint(api, monkeypatch):
    broadcast, shard_id = one_shard(250)
    die_at_checkpoint(monkeypatch, 2)  # 35 recorded
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    first = len(api.received)
    monkeypatch.undo()
    die_at_checkpoint(monkeypatch, 3)  # resumed at 35: records 70 and 105, dies at 140
    expire_lease(shard_id)
    with pytest.raises(Killed):
        runner.run_shard(shard_id)
    second = len(api.received) - first
    assert BroadcastShard.objects.get(pk=shard_id).delivered == 3 * EVERY
    monkeypatch.undo()
    take_over(shard_id)
    broadcast.refresh_from_db()
    received = Counter(r.connection_id for r in api.received)
    assert (broadcast.delivered, broadcast.accounted, len(received)) == (250, 250, 250)
    duplicates = sum(received.values()) - 250
    assert duplicates == (first - EVERY) + (second - 2 * EVERY)
    assert 2 * EVERY <= duplicates <= broadcast.possible_duplicates == 2 * BOUND


@pytest.mark.parametrize(
    ("checkpoint", "concurrency", "every"),
    [(BOUND, CONCURRENCY, EVERY), (100, 200, 50), (10, 3, 7), (1, 5, 1)],
)
def test_a_checkpoint_update_every_interval_with_the_counts(
    api, settings, monkeypatch, checkpoint, concurrency, every
):
    """One UPDATE (with the counts) every ``checkpoint - min(concurrency, checkpoint // 2)``
    recipients: more than one per ``SHARD_CHECKPOINT``, never more than two. The posts are
    answered in order here: when the window holds two intervals (100 and 200: every 50),
    answers out of order may join two to the answered rows at once, and one is skipped."""
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "SHARD_CHECKPOINT": checkpoint,
        "SEND_CONCURRENCY": concurrency,
    }
    broadcast, shard_id = one_shard(260)
    asked = die_at_checkpoint(monkeypatch, None)  # only counts them
    with CaptureQueriesContext(connection) as queries:
        assert runner.run_shard(shard_id, transport=ScriptedPosts()).ran
    checkpoints = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "checkpoint_pk" in q["sql"]
    ]
    rows = [pks().index(pk) + 1 for pk in asked]
    assert rows == list(range(every, 261, every))  # after exactly 35, 70, ... recipients
    assert len(checkpoints) == len(asked) == 260 // every
    assert len(checkpoints) <= 2 * -(-260 // checkpoint)  # at most two per SHARD_CHECKPOINT
    assert all('"delivered"' in sql and '"lease_until"' in sql for sql in checkpoints)
    shard = BroadcastShard.objects.get(pk=shard_id)
    assert shard.checkpoint_pk == asked[-1]
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered, broadcast.possible_duplicates) == (
        "finished",
        260,
        0,
    )


def test_the_resend_bound_is_the_checkpoint_setting(settings):
    for checkpoint, concurrency in ((100, 200), (40, 5), (10, 16), (1, 1), (100_000, 200)):
        workers = {"SEND_CONCURRENCY": concurrency}
        assert resend_bound(workers, checkpoint) == checkpoint
    assert resend_bound({"SEND_CONCURRENCY": 5}, 0) is None  # unchecked: the rest of the shard
    assert resend_bound({"SEND_CONCURRENCY": "many"}, 100) is None


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
    broadcast, shard_id = one_shard(250)
    real_claim = runner.claim_shard

    def claim_then_lose_it(*args, **kwargs):
        claim = real_claim(*args, **kwargs)  # meanwhile another worker takes the shard over
        BroadcastShard.objects.filter(pk=shard_id).update(attempts=5)
        return claim

    monkeypatch.setattr(runner, "claim_shard", claim_then_lose_it)
    posts = ScriptedPosts(latency=lambda _: 0.002)
    run = runner.run_shard(shard_id, transport=posts)
    assert not run.ran
    # Its first checkpoint found the shard taken: no post started beyond the window after it.
    assert EVERY <= len(posts.started) <= BOUND < 250
    assert not posts.in_flight
    shard = BroadcastShard.objects.get(pk=shard_id)
    assert (shard.delivered, shard.checkpoint_pk) == (0, None)  # nothing written by it


def test_a_shard_failed_after_checkpoints_keeps_what_was_delivered(api, settings, monkeypatch):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_MAX_ATTEMPTS": 1}
    broadcast, shard_id = one_shard(130)
    die_at_checkpoint(monkeypatch, 3, RuntimeError("database on fire"))  # after 70 recorded
    assert runner.run_shard(shard_id).failed
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered, broadcast.failed) == ("failed", 70, 60)
    assert broadcast.accounted == broadcast.total == 130
    assert "database on fire" in broadcast.error


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
    die_at_checkpoint(monkeypatch, 2, RuntimeError("database on fire"))
    with pytest.raises(RuntimeError):
        runner.run_shard(shard_id)  # given back, to be retried from its checkpoint at 35
    assert BroadcastShard.objects.get(pk=shard_id).state == "pending"
    broadcast.refresh_from_db()
    assert broadcast.cancel() == 65
    assert (broadcast.state, broadcast.delivered, broadcast.cancelled) == ("cancelled", 35, 65)
    assert broadcast.accounted == broadcast.total == 100
