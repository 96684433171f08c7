"""The delivery engine, run in the sender's loop thread: at most ``concurrency`` posts in
flight, 429/5xx/timeouts retried with exponential backoff and full jitter, every target counted
once in an :class:`Outcome` (delivered, gone or failed with a reason).

Example (in the loop)::

    outcome = await Delivery(transport, "POST", Payload(body), options).run_list(targets)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .endpoints import Endpoint
from .payload import Payload
from .rate_limit import RateLimiter, get_limiter
from .transports import Transport, TransportError

logger = logging.getLogger("ws_routes.sending")

# A recipient: primary key (None when unsaved), connection id, endpoint.
Target = tuple[Any, str, Endpoint]


@dataclass
class DeliveryOptions:
    """The ``SEND_*`` settings one delivery runs with, read and checked once per send."""

    concurrency: int
    retries: int
    timeout: float
    backoff_base: float
    backoff_max: float
    # The account-wide budget (None: unthrottled), and the first backoff of a connection whose
    # own buffer is full (a 429 that is not account-wide).
    limiter: RateLimiter | None = None
    connection_backoff: float = 0.25

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> DeliveryOptions:
        concurrency = int(settings["SEND_CONCURRENCY"])
        if concurrency < 1:
            raise ImproperlyConfigured("WS_ROUTES['SEND_CONCURRENCY'] must be at least 1")
        return cls(
            concurrency=concurrency,
            retries=max(0, int(settings["SEND_MAX_RETRIES"])),
            timeout=float(settings["SEND_TIMEOUT_SECONDS"]),
            backoff_base=float(settings["SEND_BACKOFF_BASE_SECONDS"]),
            backoff_max=float(settings["SEND_BACKOFF_MAX_SECONDS"]),
            limiter=get_limiter(settings),
            connection_backoff=float(settings["SEND_CONNECTION_BACKOFF_SECONDS"]),
        )


@dataclass
class Outcome:
    """Raw results of a delivery; turned into a SendResult once gone sessions are marked."""

    delivered: int = 0
    gone: list[tuple[Any, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    # (pk, connection id) of delivered targets, kept only when asked (DELETE): a broadcast's
    # memory must not grow with its recipients.
    delivered_targets: list[tuple[Any, str]] | None = None

    @classmethod
    def empty(cls, keep_delivered: bool = False) -> Outcome:
        """A new outcome; ``keep_delivered`` keeps delivered targets (to mark them closed)."""
        return cls(delivered_targets=[] if keep_delivered else None)

    @property
    def total(self) -> int:
        """Targets accounted for."""
        return self.delivered + len(self.gone) + len(self.failed)

    def fail(self, connection_id: str, reason: str) -> None:
        self.failed.append(connection_id)
        self.reasons[reason] += 1

    def add_failures_of(self, other: Outcome) -> Outcome:
        """This outcome with ``other``'s failures added (those failed before delivery)."""
        self.failed.extend(other.failed)
        self.reasons.update(other.reasons)
        return self


_RETRYABLE = "retry"
FAILED = "failed"


def _classify(status: int) -> str:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if status == 429 or status >= 500:
        return _RETRYABLE
    return "failed"


class Delivery:
    """Up to ``concurrency`` workers posting targets that arrive in chunks.

    Chunks wait in a queue of one, so the producer (reading the database) is at most one chunk
    ahead of the network: memory stays flat however many recipients there are.
    """

    def __init__(
        self,
        transport: Transport,
        method: str,
        payload: Payload,
        options: DeliveryOptions,
        keep_delivered: bool = False,
    ) -> None:
        self.transport = transport
        self.method = method
        self.payload = payload
        self.options = options
        self.outcome = Outcome.empty(keep_delivered)
        self._pending: deque[Target] = deque()
        self._chunks: asyncio.Queue[list[Target] | None] = asyncio.Queue(maxsize=1)
        self._refill_lock = asyncio.Lock()
        self._closed = False
        self._running: asyncio.Future[Outcome]  # set by start()

    async def put(self, chunk: list[Target]) -> None:
        await self._chunks.put(chunk)

    async def run(self, workers: int | None = None) -> Outcome:
        count = min(workers or self.options.concurrency, self.options.concurrency)
        if count == 1:
            await self._worker()
        else:
            await asyncio.gather(*(self._worker() for _ in range(count)))
        return self.outcome

    async def run_list(self, targets: Sequence[Target]) -> Outcome:
        """Deliver a known list: no queue, no more workers than targets."""
        self._pending.extend(targets)
        self._closed = True
        return await self.run(workers=len(targets) or 1)

    def start(self, first: Sequence[Target]) -> None:
        """Start the workers on a first chunk; more come through :meth:`put`."""
        self._pending.extend(first)
        self._running = asyncio.ensure_future(self.run())

    async def finish(self) -> Outcome:
        """No more chunks: wait for the last posts and return the outcome."""
        await self._chunks.put(None)
        return await self._running

    async def _refill(self) -> None:
        async with self._refill_lock:
            if self._pending or self._closed:
                return
            chunk = await self._chunks.get()
            if chunk is None:
                self._closed = True
            else:
                self._pending.extend(chunk)

    async def _worker(self) -> None:
        pending = self._pending
        while True:
            while pending:
                await self._deliver(pending.popleft())
            if self._closed:
                return
            await self._refill()

    async def _deliver(self, target: Target) -> str:
        """Post to ``target`` (retrying), count it in the outcome; what became of it:
        ``"delivered"``, ``"gone"`` or ``"failed"``."""
        pk, connection_id, endpoint = target
        options = self.options
        attempt = 0
        limiter = options.limiter
        while True:
            if limiter is not None:
                await limiter.acquire()
            try:
                status = await self.transport.request(
                    self.method, endpoint, connection_id, self.payload, options.timeout
                )
                kind = _classify(status)
                reason = str(status)
            except (TimeoutError, asyncio.TimeoutError):
                kind, reason = _RETRYABLE, "timeout"
            except TransportError as exc:
                kind = _RETRYABLE if exc.retryable else "failed"
                reason = str(exc) or "transport error"
            except Exception as exc:  # a transport bug must not lose the recipient
                logger.exception("sending to %s failed unexpectedly", connection_id)
                kind, reason = "failed", f"{type(exc).__name__}"
            if kind == "delivered":
                self.outcome.delivered += 1
                if self.outcome.delivered_targets is not None:
                    self.outcome.delivered_targets.append((pk, connection_id))
                return kind
            if kind == "gone":
                self.outcome.gone.append((pk, connection_id))
                return kind
            if kind == _RETRYABLE and attempt < options.retries:
                base = options.backoff_base
                if reason == "429" and limiter is not None and not limiter.throttled(connection_id):
                    # One client's buffer is full: back off this connection only, longer.
                    base = max(base, options.connection_backoff)
                delay = min(max(options.backoff_max, base), base * (2**attempt))
                await asyncio.sleep(random.uniform(0, delay))
                attempt += 1
                continue
            logger.debug("not delivered to %s: %s", connection_id, reason)
            self.outcome.fail(connection_id, reason)
            return FAILED
