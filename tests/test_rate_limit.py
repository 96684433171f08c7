"""The account-wide send budget: the Redis token bucket (real Redis, DB 7, own key), its
adaptive rate on 429, per-connection backoff, and the logged local fallback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.background_support import closed_port, make_sessions, redis_or_skip, redis_reachable
from tests.fake_management_api import FakeManagementApi
from ws_routes.models import WebSocketSession
from ws_routes.sending import rate_limit, reset_sender
from ws_routes.sending.rate_limit import LocalBucket, RateLimiter, RedisBucket, get_limiter

needs_redis = redis_or_skip()
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def key():
    name = f"ws_routes_tests:rate:{uuid.uuid4().hex}"
    yield name
    if redis_reachable():
        import redis

        redis.Redis.from_url(REDIS_URL).delete(name)


def drain(limiter: RateLimiter, posts: int) -> float:
    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for _ in range(posts)))
        return time.monotonic() - started

    return asyncio.run(run())


def test_local_bucket_enforces_its_rate():
    limiter = RateLimiter(200, batch=10)
    elapsed = drain(limiter, 300)
    assert elapsed >= (300 - limiter.local.burst) / 200 * 0.9


@needs_redis
def test_redis_bucket_is_shared_by_processes_threads_one_round_trip_per_batch(key):
    limiters = [RateLimiter(400, batch=20, redis_url=REDIS_URL, key=key) for _ in range(3)]
    results = []
    threads = [threading.Thread(target=lambda x=x: results.append(drain(x, 200))) for x in limiters]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 600 posts at 400/s across all three: at least ~1.4 s, not 0.5 s each alone.
    assert elapsed >= (600 - 20 - 3 * 20) / 400
    calls = sum(limiter.shared.round_trips for limiter in limiters)
    assert calls < 600 / 3  # batches (partial under contention), not one round trip a post


@needs_redis
def test_concurrent_takes_never_exceed_the_budget(key):
    bucket = RedisBucket(REDIS_URL, key, rate=100, burst=10)
    granted, lock = [], threading.Lock()

    def take():
        for _ in range(50):
            n, _wait = bucket.take(3)
            with lock:
                granted.append(n)

    started = time.monotonic()
    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert sum(granted) <= 10 + 100 * elapsed + 1


@needs_redis
def test_account_wide_429_cuts_the_shared_rate_then_it_recovers(key):
    limiter = RateLimiter(1000, batch=10, redis_url=REDIS_URL, key=key)

    async def run() -> list[bool]:
        await limiter.acquire()
        verdicts = [limiter.throttled(f"conn{n}") for n in range(5)]
        await asyncio.sleep(0.2)  # the cut runs in the limiter's thread
        return verdicts

    verdicts = asyncio.run(run())
    assert verdicts[0] is False and True in verdicts
    cut = limiter.shared.rate()
    assert cut == pytest.approx(700, rel=0.01)
    other = RateLimiter(1000, batch=10, redis_url=REDIS_URL, key=key)  # another process
    time.sleep(1.0)
    drain(other, 5)
    assert cut < other.shared.rate() <= 1000


def test_one_connections_429s_back_off_that_connection_only():
    limiter = RateLimiter(1000, batch=10)

    async def run() -> list[bool]:
        await limiter.acquire()
        return [limiter.throttled("full-buffer") for _ in range(10)]

    assert asyncio.run(run()) == [False] * 10
    assert limiter.account_cuts == 0 and limiter.local.rate == 1000


def test_unreachable_redis_falls_back_to_the_local_limit_and_logs(caplog):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    limiter = RateLimiter(1000, batch=10, redis_url=url, key="x", fallback_rate=100)
    with caplog.at_level(logging.ERROR, logger="ws_routes.sending.rate_limit"):
        elapsed = drain(limiter, 60)
    assert limiter.using_fallback
    assert elapsed >= (60 - limiter.local.burst) / 100 * 0.9  # throttled, at the fallback rate
    assert "unreachable" in caplog.text and "100 posts/s" in caplog.text
    assert caplog.text.count("unreachable") == 1  # once per outage, not per post


@pytest.mark.parametrize("bad", [0, -5, "fast", True])
def test_bad_rate_settings_are_refused(bad):
    settings = {
        "SEND_RATE_LIMIT": bad,
        "SEND_RATE_LIMIT_FALLBACK": None,
        "SEND_RATE_LIMIT_BATCH": 10,
        "SEND_RATE_LIMIT_REDIS_URL": None,
        "SEND_RATE_LIMIT_KEY": "k",
    }
    with pytest.raises(ImproperlyConfigured, match="SEND_RATE_LIMIT"):
        get_limiter(settings)
    with pytest.raises(ImproperlyConfigured):
        LocalBucket(0)


@pytest.mark.django_db
def test_in_process_sends_use_the_configured_limiter(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    reset_sender()
    rate_limit.reset_limiters()
    make_sessions(120)
    with FakeManagementApi() as api:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": api.url + "/{api_id}/{stage}",
            "SEND_RATE_LIMIT": 200,
            "SEND_RATE_LIMIT_BATCH": 10,
        }
        started = time.monotonic()
        result = WebSocketSession.objects.send({"n": 1})
        elapsed = time.monotonic() - started
    reset_sender()
    assert result.delivered == 120
    assert elapsed >= (120 - 10) / 200 * 0.9
