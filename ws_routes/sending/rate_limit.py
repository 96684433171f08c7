"""One rate budget for every process: ``WS_ROUTES["SEND_RATE_LIMIT"]`` posts/s for the account.

API Gateway's quota (10,000 requests/s per account and region, shared with every other API;
2,500 in some regions) is account-wide, so a per-process limit cannot enforce it. With
``SEND_RATE_LIMIT_REDIS_URL`` set, every process draws from one token bucket in Redis:

- a Lua script refills and takes tokens atomically, with Redis's own clock, and hands out a
  *batch* of tokens (``SEND_RATE_LIMIT_BATCH``) per round trip, not one per post;
- the bucket's rate is adaptive: when API Gateway answers 429 to posts of several connections
  at once, the shared rate is cut (x0.7, at most once per 0.5 s for all processes) and then
  recovers by 5% of ``SEND_RATE_LIMIT`` per second;
- a 429 on one connection alone means that client's buffer is full, so only that connection's
  retries back off (botocore model ``apigatewaymanagementapi``, ``LimitExceededException``:
  "more than the allowed number of requests per unit of time or the WebSocket client side
  buffer is full"; docs/aws-fidelity.md);
- when Redis is unreachable, each process falls back to a local bucket of
  ``SEND_RATE_LIMIT_FALLBACK`` posts/s (default 10% of the limit), logs an error, and tries
  Redis again every 5 s. It is never silently unthrottled.

Without a Redis URL the bucket is local to the process (``SEND_RATE_LIMIT`` per process).

Example (the delivery engine does this for every post)::

    limiter = get_limiter(ws_settings())
    if limiter is not None:
        await limiter.acquire()
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("ws_routes.sending.rate_limit")

#: Multiplicative cut of the shared rate on an account-wide 429, and the floor it stops at.
BACKOFF_FACTOR = 0.7
MIN_RATE_SHARE = 0.05
#: Additive recovery: share of ``SEND_RATE_LIMIT`` regained per second after a cut.
RECOVERY_PER_SECOND = 0.05
#: All processes' 429s within this many seconds count as one cut.
CUT_COOLDOWN_SECONDS = 0.5
#: How long tokens taken but not used stay valid in a process (no bursts of stale tokens).
TOKEN_TTL_SECONDS = 1.0
#: How often an unreachable Redis is tried again.
REDIS_RETRY_SECONDS = 5.0
#: A 429 is account-wide when at least this many distinct connections got one within a second
#: (and at least ``ACCOUNT_429_SHARE`` of this process's posts of that second).
ACCOUNT_429_MIN_CONNECTIONS = 2
ACCOUNT_429_SHARE = 0.005

# KEYS[1]: the bucket (a hash: tokens, ts, rate, cut_at).
# ARGV: max_rate, burst, wanted. Returns {granted, seconds to wait if short, current rate}.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'rate')
local tokens = tonumber(h[1])
local ts = tonumber(h[2])
local rate = tonumber(h[3])
if tokens == nil or ts == nil or rate == nil then
  tokens = burst
  ts = now
  rate = max_rate
end
local elapsed = math.max(0, now - ts)
rate = math.min(max_rate, rate + max_rate * tonumber(ARGV[4]) * elapsed)
tokens = math.min(burst, tokens + elapsed * rate)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
local wait = 0
if granted < wanted then
  local need = math.max(1, wanted - granted)
  wait = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now, 'rate', rate)
redis.call('EXPIRE', KEYS[1], 3600)
return {granted, tostring(wait), tostring(rate)}
"""

# KEYS[1]: the bucket. ARGV: max_rate, factor, min_rate, cooldown. Returns the rate now.
CUT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'rate', 'cut_at')
local rate = tonumber(h[1]) or tonumber(ARGV[1])
local cut_at = tonumber(h[2]) or 0
if now - cut_at < tonumber(ARGV[4]) then
  return tostring(rate)
end
rate = math.max(tonumber(ARGV[3]), rate * tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'rate', rate, 'cut_at', now, 'tokens', 0)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(rate)
"""


class LocalBucket:
    """A token bucket in this process, with the same adaptive rate as the shared one.

    Example: ``granted, wait = LocalBucket(100).take(10)``.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ImproperlyConfigured("a send rate limit must be a positive number of posts/s")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate * 0.05))
        self.tokens = self.burst
        self.ts = time.monotonic()
        self.cut_at = -1e9
        self._lock = threading.Lock()

    def take(self, wanted: int) -> tuple[int, float]:
        """Up to ``wanted`` tokens now, and how long to wait when short."""
        with self._lock:
            now = time.monotonic()
            elapsed = max(0.0, now - self.ts)
            self.rate = min(
                self.max_rate, self.rate + self.max_rate * RECOVERY_PER_SECOND * elapsed
            )
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.ts = now
            granted = min(wanted, int(self.tokens))
            self.tokens -= granted
            wait = 0.0
            if granted < wanted:
                need = max(1.0, wanted - granted)
                wait = (need - self.tokens) / self.rate
            return granted, wait

    def cut(self) -> float:
        with self._lock:
            now = time.monotonic()
            if now - self.cut_at >= CUT_COOLDOWN_SECONDS:
                self.rate = max(self.max_rate * MIN_RATE_SHARE, self.rate * BACKOFF_FACTOR)
                self.cut_at = now
                self.tokens = 0.0
            return self.rate


class RedisBucket:
    """The shared bucket: one Lua call per batch of tokens (``redis`` is the optional extra)."""

    def __init__(self, url: str, key: str, rate: float, burst: float) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImproperlyConfigured(
                "WS_ROUTES['SEND_RATE_LIMIT_REDIS_URL'] needs the redis package: "
                "pip install 'django-ws-routes[celery]'"
            ) from exc
        self.url = url
        self.key = key
        self.max_rate = float(rate)
        self.burst = float(burst)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._take = self.client.register_script(TAKE_SCRIPT)
        self._cut = self.client.register_script(CUT_SCRIPT)
        self.round_trips = 0

    def take(self, wanted: int) -> tuple[int, float]:
        self.round_trips += 1
        granted, wait, _rate = self._take(
            keys=[self.key], args=[self.max_rate, self.burst, wanted, RECOVERY_PER_SECOND]
        )
        return int(granted), float(wait)

    def cut(self) -> float:
        args = [self.max_rate, BACKOFF_FACTOR, self.max_rate * MIN_RATE_SHARE]
        return float(self._cut(keys=[self.key], args=[*args, CUT_COOLDOWN_SECONDS]))

    def rate(self) -> float:
        """The shared rate now (for monitoring and tests)."""
        value = self.client.hget(self.key, "rate")
        return self.max_rate if value is None else float(value)


class RateLimiter:
    """Hands out tokens to the posts of this process, drawn in batches from a bucket.

    Used in the sender's loop thread: :meth:`acquire` before each post, :meth:`throttled` on
    each 429 (it says whether the 429 was taken as account-wide).
    """

    def __init__(
        self,
        rate: float,
        *,
        batch: int,
        redis_url: str | None = None,
        key: str = "ws_routes:send_rate",
        fallback_rate: float | None = None,
    ) -> None:
        if rate <= 0:
            raise ImproperlyConfigured("WS_ROUTES['SEND_RATE_LIMIT'] must be positive posts/s")
        self.rate = float(rate)
        self.batch = max(1, min(int(batch), int(rate * 0.05) or 1))
        burst = max(float(self.batch), rate * 0.05)
        self.shared: RedisBucket | None = (
            RedisBucket(redis_url, key, rate, burst) if redis_url else None
        )
        fallback = fallback_rate if fallback_rate is not None else rate * 0.1
        self.local = LocalBucket(rate if self.shared is None else fallback)
        self.using_fallback = False
        self._retry_redis_at = 0.0
        self._tokens = 0
        self._tokens_expire = 0.0
        self._lock: asyncio.Lock | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ws-routes-rate")
        self._throttled: deque[tuple[float, str]] = deque()
        self._posts: deque[float] = deque()
        self.account_cuts = 0
        self.connection_429s = 0

    # Blocking part: one round trip, run in the limiter's own thread.

    def _take_blocking(self, wanted: int) -> tuple[int, float]:
        if self.shared is not None and time.monotonic() >= self._retry_redis_at:
            try:
                result = self.shared.take(wanted)
            except Exception as exc:  # redis.RedisError, OSError: unreachable or failing
                self._retry_redis_at = time.monotonic() + REDIS_RETRY_SECONDS
                if not self.using_fallback:
                    logger.error(
                        "send rate limit: Redis at %s unreachable (%s); this process now sends "
                        "at most %.0f posts/s (SEND_RATE_LIMIT_FALLBACK) until it answers",
                        self.shared.url,
                        exc,
                        self.local.max_rate,
                    )
                self.using_fallback = True
            else:
                if self.using_fallback:
                    logger.warning("send rate limit: Redis at %s answers again", self.shared.url)
                self.using_fallback = False
                return result
        return self.local.take(wanted)

    def _cut_blocking(self) -> None:
        if self.shared is not None and not self.using_fallback:
            try:
                rate = self.shared.cut()
                logger.info("send rate limit: account-wide 429s, shared rate now %.0f/s", rate)
                return
            except Exception:
                pass  # the next take notices and logs the outage
        self.local.cut()

    # In the loop.

    async def acquire(self) -> None:
        """Wait for one token."""
        now = time.monotonic()
        if self._tokens and now < self._tokens_expire:
            self._tokens -= 1
            self._posts.append(now)
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = time.monotonic()
                if self._tokens and now < self._tokens_expire:
                    break
                granted, wait = await loop.run_in_executor(
                    self._executor, self._take_blocking, self.batch
                )
                if granted:
                    self._tokens = granted
                    self._tokens_expire = time.monotonic() + TOKEN_TTL_SECONDS
                    break
                await asyncio.sleep(max(0.001, min(wait, 1.0)))
            self._tokens -= 1
            self._posts.append(time.monotonic())

    def throttled(self, connection_id: str) -> bool:
        """Record a 429 for ``connection_id``; True when it is taken as account-wide (then the
        shared rate is cut), False when it looks like one client's full buffer."""
        now = time.monotonic()
        horizon = now - 1.0
        throttled, posts = self._throttled, self._posts
        throttled.append((now, connection_id))
        while throttled and throttled[0][0] < horizon:
            throttled.popleft()
        while posts and posts[0] < horizon:
            posts.popleft()
        distinct = len({cid for _, cid in throttled})
        if distinct >= max(ACCOUNT_429_MIN_CONNECTIONS, ACCOUNT_429_SHARE * len(posts)):
            self.account_cuts += 1
            self._tokens = 0  # stop spending the batch at the old rate
            asyncio.get_running_loop().run_in_executor(self._executor, self._cut_blocking)
            return True
        self.connection_429s += 1
        return False


_limiters: dict[tuple[Any, ...], RateLimiter] = {}
_limiters_lock = threading.Lock()


def get_limiter(settings: dict[str, Any]) -> RateLimiter | None:
    """The process's limiter for these settings, or None when ``SEND_RATE_LIMIT`` is unset."""
    rate = settings["SEND_RATE_LIMIT"]
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        raise ImproperlyConfigured(
            f"WS_ROUTES['SEND_RATE_LIMIT'] must be a positive number of posts/s, not {rate!r}"
        )
    fallback = settings["SEND_RATE_LIMIT_FALLBACK"]
    if fallback is not None and (isinstance(fallback, bool) or fallback <= 0):
        raise ImproperlyConfigured("WS_ROUTES['SEND_RATE_LIMIT_FALLBACK'] must be positive")
    key = (
        float(rate),
        int(settings["SEND_RATE_LIMIT_BATCH"]),
        settings["SEND_RATE_LIMIT_REDIS_URL"],
        settings["SEND_RATE_LIMIT_KEY"],
        fallback,
    )
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(
                key[0], batch=key[1], redis_url=key[2], key=key[3], fallback_rate=key[4]
            )
            _limiters[key] = limiter
        return limiter


def reset_limiters() -> None:
    """Forget every limiter of this process (tests; done in a forked child automatically)."""
    global _limiters_lock
    _limiters.clear()
    _limiters_lock = threading.Lock()


os.register_at_fork(after_in_child=reset_limiters)
