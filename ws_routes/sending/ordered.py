"""A delivery that reports progress in primary key order, run in the sender's loop thread.

Posts start in the order their rows were handed over but are answered in any order (latency
varies per post, retries back off). :class:`AnsweredPrefix` follows the longest run of rows,
from the first, that are all answered; every ``every`` rows of it, a :class:`Checkpoint` (its
last primary key and counts) is asked of the caller, who records it. No post starts more than
``window`` rows past the last *recorded* checkpoint, so a sender that dies has sent at most
``window`` posts that the next attempt (resuming there) sends again. :func:`checkpoint_spacing`
makes the window the bound asked for and asks checkpoints a little more often, so that posts
go on while one is recorded.

Example (in the loop; the caller side is :mod:`.checkpointed`)::

    order = AnsweredPrefix(*checkpoint_spacing(100, 200), ask)  # every 50 rows, window 100
    delivery = OrderedDelivery(transport, "POST", payload, options, order, tell)
    delivery.start_pages(targets, pks)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .delivery import FAILED, Delivery, DeliveryOptions, Outcome, Target
from .payload import Payload
from .transports import Transport

_COLUMN = {"delivered": 0, "gone": 1, FAILED: 2}


def checkpoint_spacing(bound: int, concurrency: int) -> tuple[int, int]:
    """``(every, window)`` for a sender that dies to send at most ``bound`` posts again.

    The window is ``bound`` itself; a checkpoint is asked every ``bound - min(concurrency,
    bound // 2)`` rows, so the rest of the window (up to the posts in flight, at most half of
    it) keeps posts going while the checkpoint is written. That is up to two checkpoints (one
    UPDATE each) per ``bound`` posts, not one: the price of never sending more than ``bound``
    twice. With ``bound`` 1 the window is the interval: each post waits for the last checkpoint.
    """
    return bound - min(concurrency, bound // 2), bound


@dataclass(frozen=True)
class Checkpoint:
    """The first ``rows`` rows of the stream are all answered, the last of them ``last_pk``;
    their counts (rows failed before any post, e.g. without an endpoint, included)."""

    rows: int
    last_pk: Any
    delivered: int
    gone: int
    failed: int


class AnsweredPrefix:
    """Which rows of one stream are answered, the checkpoints due, the window posts start in.

    Touched by the loop thread only. Holds the rows handed over and not yet in the answered
    prefix: at most the window plus the pages not started yet, never the whole stream.
    """

    def __init__(self, every: int, window: int, ask: Callable[[Checkpoint], None]) -> None:
        if every < 1:
            raise ValueError(f"a checkpoint every {every} rows: it must be every 1 row or more")
        if window < every:  # the answered rows could never reach the next checkpoint
            raise ValueError(
                f"a checkpoint every {every} rows needs a window of at least {every} rows, "
                f"not {window}"
            )
        self.every = every
        self.window = window
        self._ask = ask
        self._rows: deque[list[Any]] = deque()  # [index, pk, kind]: not yet in the prefix
        self._unstarted: deque[list[Any]] = deque()  # the rows to post, in order
        self._handed = 0  # rows handed over (the next row's index)
        self._counts = [0, 0, 0]  # delivered, gone, failed of the prefix
        self.prefix = 0  # rows answered, all of them from the first
        self.recorded = 0  # rows covered by the last recorded checkpoint
        self._due: Checkpoint | None = None
        self._asking = False
        self.moved = asyncio.Event()  # set when the window moves (or the delivery stops)
        self.peak_rows = 0  # the most rows held at once (tests: memory is bounded)

    def add(self, pks: Sequence[Any], targets: Sequence[Target]) -> None:
        """A page handed over: its rows' primary keys in order; a row that is not among
        ``targets`` (same order) failed before any post and counts as answered."""
        sent = iter(targets)
        target = next(sent, None)
        for pk in pks:
            row = [self._handed, pk, None]
            self._handed += 1
            if target is not None and target[0] == pk:
                self._unstarted.append(row)
                target = next(sent, None)
            else:
                row[2] = FAILED
            self._rows.append(row)
        if target is not None:
            raise ValueError(f"target {target[0]!r} is not among the page's rows, or not in order")
        self.peak_rows = max(self.peak_rows, len(self._rows))
        self._advance()

    def may_start(self) -> bool:
        """Whether the next post is inside the window (``recorded + window``)."""
        return self._unstarted[0][0] < self.recorded + self.window

    def start(self) -> list[Any]:
        """The next row to post (its target is the next one handed over)."""
        return self._unstarted.popleft()

    def answer(self, row: list[Any], kind: str) -> None:
        row[2] = kind
        self._advance()

    def record_done(self, rows: int) -> None:
        """The caller recorded the checkpoint of the first ``rows`` rows: the window moves."""
        self._asking = False
        self.recorded = max(self.recorded, rows)
        self.moved.set()
        self._ask_due()

    async def window_moved(self) -> None:
        self.moved.clear()
        await self.moved.wait()

    def _advance(self) -> None:
        rows, counts, every = self._rows, self._counts, self.every
        while rows and rows[0][2] is not None:
            index, pk, kind = rows.popleft()
            counts[_COLUMN[kind]] += 1
            self.prefix = index + 1
            if self.prefix % every == 0:  # only the latest is asked: one UPDATE at a time
                self._due = Checkpoint(self.prefix, pk, *counts)
        self._ask_due()

    def _ask_due(self) -> None:
        if self._due is not None and not self._asking:
            due, self._due = self._due, None
            self._asking = True
            self._ask(due)


class OrderedDelivery(Delivery):
    """:class:`Delivery` of pages the caller reads when asked, posts started in row order and
    inside the window of ``order``. ``tell(kind)`` tells the caller thread (it must not block):
    ``"page"`` (read the next page), ``"stopped"`` (read no more), ``"done"`` (the workers
    ended; :meth:`result` has the outcome)."""

    def __init__(
        self,
        transport: Transport,
        method: str,
        payload: Payload,
        options: DeliveryOptions,
        order: AnsweredPrefix,
        tell: Callable[[str], None],
    ) -> None:
        super().__init__(transport, method, payload, options)
        self.order = order
        self._tell = tell
        self._pages: deque[list[Target]] = deque()
        self._page_ready = asyncio.Event()
        self._ended = False
        self._stopped = False

    def start_pages(self, targets: list[Target], pks: Sequence[Any]) -> None:
        self.add_page(targets, pks)
        self._running = asyncio.ensure_future(self._run_workers())
        self._running.add_done_callback(lambda _: self._tell("done"))

    def add_page(self, targets: list[Target], pks: Sequence[Any]) -> None:
        """The next page (asked for with ``"page"``); one with nothing to post asks again."""
        self.order.add(pks, targets)
        if targets:
            self._pages.append(targets)
            self._page_ready.set()
        elif not self._stopped:
            self._tell("page")

    def end(self) -> None:
        """No more pages."""
        self._ended = True
        self._page_ready.set()

    def stop(self) -> None:
        """Start no more posts (those in flight finish): the attempt lost its shard or died."""
        if not self._stopped:
            self._stopped = True
            self.order.moved.set()
            self._page_ready.set()
            self._tell("stopped")

    def recorded(self, rows: int | None) -> None:
        """The caller recorded the checkpoint of ``rows`` rows, or could not (None: stop)."""
        if rows is None:
            self.stop()
        else:
            self.order.record_done(rows)

    async def result(self) -> Outcome:
        return await self._running

    async def _run_workers(self) -> Outcome:
        tasks = [asyncio.ensure_future(self._worker()) for _ in range(self.options.concurrency)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            self.stop()  # one worker died: the others start nothing more
            await asyncio.wait(tasks)
            raise
        return self.outcome

    async def _refill(self) -> None:
        async with self._refill_lock:
            while not self._pending and not self._closed:
                if self._stopped:
                    self._closed = True
                elif self._pages:
                    self._pending.extend(self._pages.popleft())
                    self._tell("page")  # read ahead: one page waits while this one is sent
                elif self._ended:
                    self._closed = True
                else:
                    self._page_ready.clear()
                    await self._page_ready.wait()

    async def _worker(self) -> None:
        pending, order = self._pending, self.order
        while True:
            while pending and not self._stopped:
                if order.may_start():
                    row = order.start()
                    order.answer(row, await self._deliver(pending.popleft()))
                else:
                    await order.window_moved()
            if self._closed or self._stopped:
                return
            await self._refill()
