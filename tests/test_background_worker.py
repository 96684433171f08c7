"""Background sends on real Celery worker processes with the Redis broker (127.0.0.1:6379, DB 7).

Skipped, saying why, when Redis is unreachable; tests/test_background.py runs the same
behaviour in eager mode. One test SIGKILLs a worker mid-shard: its shard is redelivered by
Redis (visibility timeout) and completed by the other worker, counted once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.background_support import make_sessions, redis_or_skip
from tests.fake_management_api import FakeManagementApi
from ws_routes.broadcasting.records import BroadcastShard
from ws_routes.models import Broadcast, WebSocketSession

pytestmark = [
    pytest.mark.django_db(transaction=True),
    redis_or_skip(),
]

ROOT = Path(__file__).resolve().parent.parent
QUEUE = f"ws_routes_tests_{os.getpid()}"
CHECKPOINT = 50
CONCURRENCY = 10


def start_worker(api_url: str, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "WS_ROUTES_WORKER_DB": connection.settings_dict["NAME"],
        "WS_ROUTES_TEST_QUEUE": QUEUE,
        "WS_ROUTES_WORKER_OVERRIDES": json.dumps(
            {
                "MANAGEMENT_ENDPOINT": api_url + "/{api_id}/{stage}",
                "SEND_CONCURRENCY": CONCURRENCY,
                "BACKGROUND_SHARD_LEASE_SECONDS": 3,
                # The worker's start task counts and splits: the shard size is the worker's.
                "BACKGROUND_SHARD_SIZE": 200,
                # A redelivered shard resumes from its last checkpoint (issue 24 item 4).
                "SHARD_CHECKPOINT": CHECKPOINT,
            }
        ),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "--pool=solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", QUEUE,
        "-n", f"{name}@%h", "--loglevel=WARNING",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


@pytest.fixture
def api(settings, monkeypatch):
    monkeypatch.setenv("WS_ROUTES_TEST_QUEUE", QUEUE)
    from tests.celery_app import app

    app.conf.task_default_queue = QUEUE
    app.conf.task_always_eager = False
    app.set_current()
    with app.connection_for_write() as conn:  # DB 7 is the tests' own: no stale tasks
        conn.default_channel.client.flushdb()
    with FakeManagementApi(latency=0.02) as fake:
        settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_SIZE": 200}
        yield fake


def wait_for(broadcast: Broadcast, seconds: float) -> Broadcast:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        broadcast.refresh_from_db()
        if broadcast.is_done:
            return broadcast
        time.sleep(0.2)
    raise AssertionError(f"not finished in {seconds} s: {broadcast.__dict__}")


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_two_workers_deliver_a_broadcast_and_count_everyone(api):
    make_sessions(1000)
    make_sessions(5, prefix="gone-")
    workers = [start_worker(api.url, f"w{n}") for n in range(2)]
    try:
        started = time.perf_counter()
        broadcast = WebSocketSession.objects.send({"n": 1}, background=True)
        assert time.perf_counter() - started < 1.0
        wait_for(broadcast, 60)
    finally:
        stop(workers)
    assert broadcast.state == Broadcast.State.FINISHED
    assert (broadcast.delivered, broadcast.gone, broadcast.failed) == (1000, 5, 0)
    assert len({r.connection_id for r in api.received}) == 1005


def test_worker_killed_mid_shard_is_redelivered_and_completed_by_another(api):
    make_sessions(2000)
    victim = start_worker(api.url, "victim")
    survivor = None
    try:
        broadcast = WebSocketSession.objects.send({"n": 1}, background=True)
        # Mid-shard, by count rather than by time (a loaded machine stretches time): 50 posts
        # are out and the worker holds a shard (of up to 200: 10 posts in flight at 20 ms).
        deadline = time.monotonic() + 30
        running = BroadcastShard.objects.filter(broadcast=broadcast, state="running")
        while len(api.received) < 50 or not running.exists():
            assert time.monotonic() < deadline, "no shard started"
            time.sleep(0.005)
        os.kill(victim.pid, signal.SIGKILL)
        assert running.exists()  # killed holding a shard
        victim.wait(timeout=10)
        survivor = start_worker(api.url, "survivor")
        wait_for(broadcast, 90)
    finally:
        stop([w for w in (victim, survivor) if w is not None])
    assert broadcast.state == Broadcast.State.FINISHED
    assert broadcast.delivered == broadcast.total == 2000
    assert broadcast.delivered + broadcast.gone + broadcast.failed == broadcast.total
    unique = {r.connection_id for r in api.received}
    duplicates = len(api.received) - len(unique)
    assert len(unique) == 2000
    redelivered = BroadcastShard.objects.filter(broadcast=broadcast, attempts__gt=1)
    assert redelivered.exists()
    # Each redelivery resumes from the dead attempt's last checkpoint: at most SHARD_CHECKPOINT
    # posts (no post started further past it) are sent twice, not the shard (200).
    bound = broadcast.possible_duplicates
    assert 0 <= duplicates <= bound <= CHECKPOINT * redelivered.count()
