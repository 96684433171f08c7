"""Background sends in Celery's eager mode (no broker needed): sharding, accounting,
redelivery after a worker died mid-shard, retries that end, cancel, and bad input.

The same behaviour with real worker processes and Redis: tests/test_background_worker.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from itertools import pairwise
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from tests.background_support import closed_port, eager_celery, make_sessions, run_together
from tests.fake_management_api import FakeManagementApi
from ws_routes.broadcasting import runner
from ws_routes.broadcasting.enqueue import enqueue_broadcast
from ws_routes.broadcasting.publish import BroadcastEnqueueError
from ws_routes.broadcasting.records import BroadcastShard, claim_shard
from ws_routes.broadcasting.shards import CannotShard, plan_shards
from ws_routes.models import Broadcast, WebSocketSession
from ws_routes.sending import PayloadTooLarge, SendResult, reset_sender

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


SHARD_SIZE = 100  # the api fixture's BACKGROUND_SHARD_SIZE


@pytest.fixture
def api(settings):
    with FakeManagementApi() as fake:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": fake.url + "/{api_id}/{stage}",
            "SEND_BACKOFF_BASE_SECONDS": 0.001,
            "SEND_BACKOFF_MAX_SECONDS": 0.004,
            "BACKGROUND_SHARD_SIZE": SHARD_SIZE,
        }
        yield fake


@pytest.fixture
def eager():
    with eager_celery() as app:
        yield app


def lobby():
    return WebSocketSession.objects.filter(channel_name="lobby")


def test_background_send_returns_a_finished_broadcast_and_counts_everyone(api, eager):
    make_sessions(250)
    make_sessions(3, prefix="gone-")
    make_sessions(2, prefix="other", channel="elsewhere")
    broadcast = lobby().send({"text": "hi"}, background=True)
    assert isinstance(broadcast, Broadcast)
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FINISHED
    assert (broadcast.total, broadcast.delivered, broadcast.gone, broadcast.failed) == (
        253,
        250,
        3,
        0,
    )
    assert 3 <= broadcast.shards_total <= 5 and broadcast.pending_shards == 0  # pk alignment
    assert broadcast.started_at and broadcast.finished_at
    posted = {r.connection_id for r in api.received}
    assert len(posted) == len(api.received) == 253  # nobody twice, nobody else
    assert not WebSocketSession.objects.filter(connection_id__startswith="gone-", connected=True)


def skip_primary_keys(count: int) -> None:
    """Move the next session's primary key on by ``count``, as on a long-lived database.

    PostgreSQL's sequences do not roll back with a test's transaction, so a test there starts
    at whatever key the tests before it reached; this makes SQLite start unaligned too.
    """
    make_sessions(count, prefix="skipped", channel="")
    WebSocketSession.objects.filter(connection_id__startswith="skipped").delete()


def assert_tightly_planned(shards, shard_size: int) -> None:
    """What the planner promises, wherever the keys start: no shard over the size, none empty,
    and no two neighbours that would have fitted in one (so at most about twice the minimum)."""
    sizes = [s.expected for s in shards]
    assert all(0 < n <= shard_size for n in sizes), sizes
    assert all(a + b > shard_size for a, b in pairwise(sizes)), sizes
    lows_highs = [(s.first_pk, s.last_pk) for s in shards]
    assert all(h1 < l2 for (_, h1), (l2, _) in pairwise(lows_highs)), lows_highs


def test_shards_are_keyset_ranges_of_about_the_shard_size(api):
    make_sessions(1050)
    WebSocketSession.objects.filter(pk__in=lobby().values("pk")[:7]).update(connected=False)
    shards = plan_shards(lobby().filter(connected=True), SHARD_SIZE)
    assert sum(s.expected for s in shards) == 1043
    assert_tightly_planned(shards, SHARD_SIZE)


def test_planning_is_one_grouped_query_not_one_per_recipient(api, eager, settings):
    from django.test.utils import CaptureQueriesContext

    make_sessions(2000)
    with CaptureQueriesContext(connection) as queries:
        plan_shards(lobby().filter(connected=True), 100)
    assert len(queries) == 1


@pytest.mark.parametrize(
    "recipients", [lobby, lambda: WebSocketSession.objects.in_channel("lobby")]
)
def test_the_caller_does_the_same_queries_whatever_the_recipients(api, recipients):
    """Enqueue cost does not grow with the set: no count, no grouping, in the caller."""
    from django.test.utils import CaptureQueriesContext

    def enqueue_queries() -> list[str]:
        with (
            mock.patch("ws_routes.broadcasting.publish.publish") as publish,
            mock.patch("ws_routes.broadcasting.enqueue.celery_app"),
            CaptureQueriesContext(connection) as queries,
        ):
            broadcast = recipients().send({"n": 1}, background=True)
        publish.assert_called_once()
        assert broadcast.total is None and broadcast.state == Broadcast.State.ENQUEUED
        assert not BroadcastShard.objects.filter(broadcast=broadcast).exists()
        return [q["sql"] for q in queries.captured_queries]

    make_sessions(20)
    small = enqueue_queries()
    make_sessions(3000, prefix="more")
    large = enqueue_queries()
    assert len(small) == len(large) <= 3, large  # largest pk, a LIMIT 1 count, one INSERT
    assert not any("GROUP BY" in sql for sql in large)
    assert any("LIMIT 1" in sql and "COUNT" in sql for sql in large)


def test_recipients_are_fixed_at_enqueue_time(api, settings):
    make_sessions(120)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    assert broadcast.total is None  # counted by the start task, on a worker
    make_sessions(5, prefix="late")  # connected after the enqueue: larger pks, not included
    gone_since = [s.pk for s in lobby().order_by("pk")[:4]]
    # Disconnected after the enqueue (as the $disconnect view marks them): recipients, gone.
    WebSocketSession.objects.filter(pk__in=gone_since).update(
        connected=False, disconnected_at=timezone.now()
    )
    for shard_id in runner.start_broadcast(broadcast.pk):
        runner.run_shard(shard_id)
    broadcast.refresh_from_db()
    assert broadcast.total == 120
    assert (broadcast.delivered, broadcast.gone) == (116, 4)
    assert not any(r.connection_id.startswith("late") for r in api.received)


def test_sessions_gone_before_the_enqueue_are_not_recipients(api):
    make_sessions(30)
    before = timezone.now() - timedelta(seconds=5)
    gone = [s.pk for s in lobby().order_by("pk")[:10]]
    WebSocketSession.objects.filter(pk__in=gone).update(connected=False, disconnected_at=before)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    runner.run_inline(broadcast.pk)
    broadcast.refresh_from_db()
    assert (broadcast.total, broadcast.delivered, broadcast.gone) == (20, 20, 0)


@pytest.mark.parametrize("skipped", [0, 37, 99])
def test_sparse_primary_keys_still_give_shards_of_at_most_the_shard_size(api, skipped):
    """Planning follows where recipients are, not the width of the primary key range."""
    skip_primary_keys(skipped)
    make_sessions(250)
    WebSocketSession.objects.filter(pk__gt=lobby().order_by("pk")[5].pk).update(
        channel_name="elsewhere"
    )
    make_sessions(1000, prefix="far", channel="elsewhere")
    make_sessions(240, prefix="late-lobby")  # big pks, far from the first 6
    broadcast = _enqueue_without_running(WebSocketSession.objects.filter(channel_name="lobby"), 1)
    runner.start_broadcast(broadcast.pk)
    broadcast.refresh_from_db()
    shards = list(BroadcastShard.objects.filter(broadcast=broadcast).order_by("index"))
    assert sum(s.expected for s in shards) == broadcast.total == 246
    assert_tightly_planned(shards, SHARD_SIZE)
    # 246 recipients in shards of 100: three at best; four when the keys straddle granules.
    assert 3 <= len(shards) <= 4


@pytest.mark.parametrize("skipped", [0, 37])
def test_a_redelivered_or_racing_start_counts_and_writes_shards_once(
    api, transactional_db, skipped
):
    skip_primary_keys(skipped)
    make_sessions(450)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    planned = len(plan_shards(lobby(), SHARD_SIZE))  # 5 when the keys align with granules, else 6
    results = run_together(*[lambda: runner.start_broadcast(broadcast.pk)] * 3)
    shards = BroadcastShard.objects.filter(broadcast=broadcast)
    assert shards.count() == planned and all(
        sorted(r) == sorted(shards.values_list("pk", flat=True)) for r in results
    )
    assert_tightly_planned(shards.order_by("index"), SHARD_SIZE)
    broadcast.refresh_from_db()
    assert (broadcast.total, broadcast.shards_total, broadcast.pending_shards) == (
        450,
        planned,
        planned,
    )
    assert runner.start_broadcast(broadcast.pk) == results[0]  # once more: the same shards


def test_cancel_before_the_start_counts_everyone_cancelled_and_start_does_nothing(api):
    make_sessions(130)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    assert broadcast.cancel() == 130
    assert (broadcast.state, broadcast.total, broadcast.cancelled) == ("cancelled", 130, 130)
    assert broadcast.finished_at and broadcast.accounted == broadcast.total
    assert runner.start_broadcast(broadcast.pk) == []
    assert not BroadcastShard.objects.filter(broadcast=broadcast).exists()
    assert not api.received


def test_a_cancel_racing_the_start_cancels_everyone_once(api, transactional_db):
    make_sessions(450)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    run_together(
        lambda: runner.start_broadcast(broadcast.pk),
        lambda: Broadcast.objects.get(pk=broadcast.pk).cancel(),
    )
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.CANCELLED and broadcast.finished_at
    assert broadcast.total == broadcast.cancelled == broadcast.accounted == 450
    assert not BroadcastShard.objects.filter(broadcast=broadcast).exclude(state="cancelled")
    assert not api.received


def test_a_start_that_keeps_raising_ends_failed_not_enqueued_forever(api, monkeypatch):
    make_sessions(130)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(runner, "plan_shards", broken)
    with eager_celery():
        from ws_routes.tasks import start_broadcast

        start_broadcast.apply(args=(broadcast.pk,))
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FAILED and "database on fire" in broadcast.error
    assert broadcast.failed == broadcast.total == 130 and broadcast.finished_at
    assert not api.received


def _enqueue_without_running(queryset, data):
    """Write a broadcast's records without publishing it (the tests run its shards)."""
    return enqueue_broadcast(queryset, data, publish=False)


def test_worker_killed_mid_shard_is_redelivered_and_completed(api, settings):
    """A shard claimed by a worker that died (its lease expired) is taken over; counts are
    recorded once and the possible duplicates are bounded by that shard."""
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_LEASE_SECONDS": 0}
    make_sessions(250)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    shard_ids = runner.start_broadcast(broadcast.pk)
    dead = claim_shard(shard_ids[0], 0, 3)  # the worker that died holding shard 0
    assert dead.run
    with eager_celery():
        from ws_routes.tasks import deliver_shard

        for shard_id in shard_ids:
            deliver_shard.apply(args=(shard_id,))
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FINISHED
    assert broadcast.delivered == broadcast.total == 250
    assert broadcast.accounted == broadcast.total
    first = BroadcastShard.objects.get(pk=shard_ids[0])
    assert first.attempts == 2
    assert broadcast.possible_duplicates == first.expected
    # A late duplicate of a recorded shard changes nothing.
    assert not runner.run_shard(shard_ids[0]).ran
    broadcast.refresh_from_db()
    assert broadcast.delivered == 250


def test_a_held_shard_is_not_run_twice_at_once(api):
    make_sessions(150)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    shard_id = runner.start_broadcast(broadcast.pk)[0]
    assert claim_shard(shard_id, 60, 3).run
    second = runner.run_shard(shard_id)
    assert not second.ran and 0 < second.retry_in <= 60
    assert not api.received


def test_racing_claims_admit_exactly_one(api, transactional_db):
    make_sessions(150)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    shard_id = runner.start_broadcast(broadcast.pk)[0]
    results, barrier = [], threading.Barrier(4)

    def claim():
        barrier.wait()
        try:
            results.append(claim_shard(shard_id, 60, 3).run)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]


def test_a_shard_that_keeps_failing_ends_failed_with_its_error(api, settings, monkeypatch):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_MAX_ATTEMPTS": 3}
    make_sessions(150)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("database on fire")

    monkeypatch.setattr("ws_routes.sending.send_with_checkpoints", broken)
    with eager_celery():
        from ws_routes.tasks import start_broadcast

        start_broadcast.apply(args=(broadcast.pk,))
    broadcast.refresh_from_db()
    assert len(calls) == 3 * broadcast.shards_total  # bounded: never loops forever
    assert broadcast.state == Broadcast.State.FAILED
    assert "database on fire" in broadcast.error
    assert broadcast.failed == broadcast.total == 150
    assert broadcast.pending_shards == 0 and broadcast.finished_at


def test_cancel_drops_pending_shards_and_counts_them(api):
    make_sessions(350)
    broadcast = _enqueue_without_running(lobby(), {"n": 1})
    shard_ids = runner.start_broadcast(broadcast.pk)
    runner.run_shard(shard_ids[0])
    cancelled = broadcast.cancel()
    broadcast.refresh_from_db()
    assert cancelled == broadcast.total - broadcast.delivered > 0
    assert broadcast.state == Broadcast.State.CANCELLED and broadcast.finished_at
    assert broadcast.accounted == broadcast.total
    assert all(not runner.run_shard(shard_id).ran for shard_id in shard_ids[1:])
    assert len(api.received) == broadcast.delivered
    assert broadcast.cancel() == 0  # twice: nothing more


def test_on_commit_enqueues_only_after_commit(api, transactional_db):
    make_sessions(120)
    with eager_celery():
        with transaction.atomic():
            broadcast = lobby().send({"n": 1}, background=True, on_commit=True)
            assert not api.received
        broadcast.refresh_from_db()
        assert broadcast.state == Broadcast.State.FINISHED and len(api.received) == 120
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            lobby().send({"n": 2}, background=True, on_commit=True)
            raise ZeroDivisionError
    assert Broadcast.objects.count() == 1 and len(api.received) == 120


def test_small_sends_stay_in_process_under_the_threshold(api, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_INLINE_MAX": 50}
    make_sessions(30)
    from unittest import mock

    with mock.patch("ws_routes.broadcasting.publish.publish") as publish:
        broadcast = lobby().send({"n": 1}, background=True)
    publish.assert_not_called()
    assert broadcast.state == Broadcast.State.FINISHED and broadcast.delivered == 30


def test_nobody_to_send_to_is_finished_at_once(api, eager):
    broadcast = lobby().send({"n": 1}, background=True)
    assert (broadcast.state, broadcast.total, broadcast.shards_total) == ("finished", 0, 0)


def test_without_background_a_send_result_as_before(api):
    make_sessions(3)
    assert isinstance(lobby().send({"n": 1}), SendResult)


# Bad input: refused before anything is enqueued or written.


def test_oversized_payload_refuses_before_enqueueing(api, eager):
    make_sessions(10)
    with pytest.raises(PayloadTooLarge):
        lobby().send({"blob": "x" * (128 * 1024)}, background=True)
    assert not Broadcast.objects.exists() and not api.received


@pytest.mark.parametrize("data", [object(), {"n": float("nan")}, {1j: 2}, {"s": {1, 2}}])
def test_unserialisable_payload_refuses_at_once(api, eager, data):
    make_sessions(10)
    with pytest.raises(TypeError, match="JSON"):
        lobby().send(data, background=True)
    assert not Broadcast.objects.exists()


def test_a_broker_that_is_down_raises_and_leaves_nothing(api, settings):
    from celery import Celery

    from tests.celery_app import app

    make_sessions(150)
    Celery("broker_down", broker=f"redis://127.0.0.1:{closed_port()}/0", set_as_current=True)
    try:
        started = time.monotonic()
        with pytest.raises(BroadcastEnqueueError, match="nothing was enqueued"):
            lobby().send({"n": 1}, background=True)
        assert time.monotonic() - started < 10
    finally:
        app.set_current()
    assert not Broadcast.objects.exists() and not BroadcastShard.objects.exists()
    assert not api.received


def test_a_broker_down_at_commit_fails_the_broadcast_with_everyone_counted(
    api, settings, transactional_db
):
    from celery import Celery

    from tests.celery_app import app

    make_sessions(150)
    Celery("broker_down", broker=f"redis://127.0.0.1:{closed_port()}/0", set_as_current=True)
    try:
        with transaction.atomic():
            broadcast = lobby().send({"n": 1}, background=True, on_commit=True)
    finally:
        app.set_current()
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FAILED and "nothing was enqueued" in broadcast.error
    assert broadcast.total == broadcast.failed == broadcast.accounted == 150
    assert broadcast.finished_at and not api.received


def test_sliced_and_combined_querysets_are_refused_clearly(api, eager):
    make_sessions(5)
    with pytest.raises(CannotShard, match="sliced"):
        lobby()[:2].send({"n": 1}, background=True)
    with pytest.raises(CannotShard, match="combined"):
        lobby().union(lobby()).send({"n": 1}, background=True)
    assert not Broadcast.objects.exists()


def test_hostile_shard_size_setting_is_refused(api, eager, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_SIZE": 0}
    make_sessions(5)
    with pytest.raises(ValueError, match="BACKGROUND_SHARD_SIZE"):
        lobby().send({"n": 1}, background=True)


def test_hostile_connection_ids_fail_alone_in_a_background_send(api, eager):
    make_sessions(3)
    WebSocketSession.objects.create(connection_id="../../x" + "\n", channel_name="lobby")
    broadcast = lobby().send({"n": 1}, background=True)
    broadcast.refresh_from_db()
    assert (broadcast.delivered, broadcast.failed, broadcast.total) == (3, 1, 4)


def test_concurrent_background_sends_each_count_their_own(api, transactional_db):
    make_sessions(200)
    errors = []

    def send(n):
        try:
            lobby().send({"n": n}, background=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    # One eager mode for all threads: it patches the Celery app for the whole process, so a
    # thread leaving its own ``with`` would switch eager mode off under the others.
    with eager_celery():
        threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    broadcasts = list(Broadcast.objects.all())
    assert len(broadcasts) == 3
    assert all(b.state == "finished" and b.delivered == b.total == 200 for b in broadcasts), [
        (b.state, b.total, b.delivered, b.gone, b.failed, b.error) for b in broadcasts
    ]
    assert len(api.received) == 600


def test_background_without_celery_is_a_clear_configuration_error(api, monkeypatch):
    import builtins

    make_sessions(150)
    real_import = builtins.__import__

    def no_celery(name, *args, **kwargs):
        if name == "celery" or name.startswith("celery."):
            raise ImportError("No module named 'celery'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_celery)
    with pytest.raises(ImproperlyConfigured, match=r"\[celery\]"):
        lobby().send({"n": 1}, background=True)
    assert not Broadcast.objects.exists()
