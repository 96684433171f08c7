"""Pacing of control-plane calls: AWS throttles an account's apigatewayv2 calls (about 10/s,
burst 40) and deployments far more (one CreateDeployment every 5 s per account), and answers
``TooManyRequestsException`` past that. :func:`call_aws` waits here before every call.

One :class:`Pacer` per process; one token bucket per region inside it (quotas are per account
and region), and a minimum interval per operation. Its clock and sleep are injectable so that
tests pace on a fake clock. Sources: docs/aws-fidelity.md.

Example::

    pacer = Pacer()
    pacer.wait("eu-west-2", "get_routes")   # returns when a call may be made
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from ..conf import ws_settings

#: Error codes meaning "slow down" (apigatewayv2: TooManyRequestsException, 429; botocore's
#: generic throttling codes for the other services called).
THROTTLE_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "ThrottledException"}
)
#: Operations with their own, slower quota, and the setting giving their minimum interval.
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
#: ("API Gateway quotas for creating, deploying and managing an API").
_INTERVAL_SETTINGS = {"create_deployment": "DEPLOY_DEPLOYMENT_INTERVAL_SECONDS"}
_FIXED_INTERVALS = {"create_domain_name": 30.0}  # 1 request every 30 s per account
_BACKOFF_BASE_SECONDS = 1.0
_EPSILON = 1e-6
_BACKOFF_MAX_SECONDS = 20.0


class Pacer:
    """Token buckets per region plus minimum intervals per operation; thread-safe."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.random_fraction = random_fraction
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # region -> (tokens, updated at)
        self._last_call: dict[tuple[str, str], float] = {}  # (region, operation) -> when
        self.waited = 0.0  # seconds slept, in total (for tests and logs)

    def _delay(self, region: str, operation: str, settings: dict[str, Any]) -> float:
        """Seconds to wait before this call; takes its token when it is 0. Lock held."""
        now = self.clock()
        delay = 0.0
        interval = _FIXED_INTERVALS.get(operation, 0.0)
        if operation in _INTERVAL_SETTINGS:
            interval = float(settings[_INTERVAL_SETTINGS[operation]] or 0)
        last = self._last_call.get((region, operation))
        if interval and last is not None:
            delay = max(delay, last + interval - now)
        # Below a microsecond is rounding, not a wait (and a clock may not advance by it).
        rate = settings["DEPLOY_CALLS_PER_SECOND"]
        tokens = 0.0
        if rate:
            burst = max(1.0, float(settings["DEPLOY_CALLS_BURST"] or 1))
            tokens, updated = self._buckets.get(region, (burst, now))
            tokens = min(burst, tokens + (now - updated) * float(rate))
            if tokens < 1 - _EPSILON:
                delay = max(delay, (1 - tokens) / float(rate))
            self._buckets[region] = (tokens, now)
        if delay < _EPSILON:
            delay = 0.0
            if rate:
                self._buckets[region] = (tokens - 1, now)
            self._last_call[(region, operation)] = now
        return delay

    def wait(self, region: str, operation: str) -> None:
        """Block until ``operation`` may be called in ``region``, and count the call."""
        settings = ws_settings()
        while True:
            with self._lock:
                delay = self._delay(region, operation, settings)
            if delay <= 0:
                return
            self.waited += delay
            self.sleep(delay)

    def backoff(self, attempt: int) -> None:
        """Sleep after a throttled answer: full jitter over 1 s * 2**attempt, capped at 20 s."""
        ceiling = min(_BACKOFF_MAX_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)
        delay = ceiling * self.random_fraction()
        self.waited += delay
        self.sleep(delay)

    def throttled(self, region: str) -> None:
        """AWS said slow down: empty the region's bucket so the next calls wait for tokens."""
        with self._lock:
            self._buckets[region] = (0.0, self.clock())


#: The process's pacer (replace it in a test to pace on a fake clock).
pacer = Pacer()
