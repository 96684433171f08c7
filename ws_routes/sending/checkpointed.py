"""The calling thread's side of a send with checkpoints: it reads each page when the loop asks
for it and records each checkpoint the loop asks for, while the loop thread keeps posting
(:mod:`.ordered`). Both the reads and the writes stay in the calling thread, whose database
connection (and transaction, in tests) they belong to.

Example::

    outcome, held = deliver_with_checkpoints(job, queryset_rows(qs, job.chunk_size), 100, record)
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from typing import Any

from . import process
from .delivery import Outcome, Target
from .job import SendJob
from .ordered import AnsweredPrefix, Checkpoint, OrderedDelivery, checkpoint_spacing
from .recipients import Row

Page = tuple[list[Target], list[Any]]


def next_page(job: SendJob, chunks: Iterator[list[Row]], pre: Outcome) -> Page | None:
    """The next page's targets and its rows' primary keys (rows without a usable endpoint are
    failed into ``pre``), or None at the end."""
    rows = next(chunks, None)
    if rows is None:
        return None
    return job.targets(rows, pre), [row[0] for row in rows]


def deliver_with_checkpoints(
    job: SendJob,
    chunks: Iterator[list[Row]],
    bound: int,
    record: Callable[[Checkpoint], bool],
) -> tuple[Outcome, bool]:
    """Deliver every row of ``chunks`` (in primary key order), calling ``record`` in this
    thread as the rows, from the first, are all answered (every ``checkpoint_spacing(bound,
    SEND_CONCURRENCY)[0]`` rows), so that no post starts more than ``bound`` rows past the last
    recorded checkpoint; blocking until done. ``record`` returning False (the shard is another
    attempt's now) stops the posts: then ``(outcome so far, False)``. An exception (here or in
    the loop) stops them too and is raised once the posts in flight are answered."""
    pre = job.new_outcome()
    first = next_page(job, chunks, pre)
    if first is None:
        return pre, True
    loop = process.sync_loop()
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def ask(checkpoint: Checkpoint) -> None:
        events.put(("record", checkpoint))

    def tell(kind: str) -> None:
        events.put((kind, None))

    order = AnsweredPrefix(*checkpoint_spacing(bound, job.options.concurrency), ask)
    delivery = process.run_on_loop(loop, _start(job, order, tell, first))
    reading = held = True
    try:
        while True:
            kind, checkpoint = events.get()
            if kind == "page" and reading:
                page = next_page(job, chunks, pre)
                if page is None:
                    reading = False
                    loop.call_soon_threadsafe(delivery.end)
                else:
                    loop.call_soon_threadsafe(delivery.add_page, *page)
            elif kind == "record" and held:
                held = record(checkpoint)
                loop.call_soon_threadsafe(delivery.recorded, checkpoint.rows if held else None)
                reading = reading and held
            elif kind == "stopped":
                reading = False
            elif kind == "done":
                break
    except BaseException:
        loop.call_soon_threadsafe(delivery.stop)
        while events.get()[0] != "done":
            pass  # the posts in flight are answered; nothing more is read or recorded
        raise
    outcome = process.run_on_loop(loop, delivery.result())
    return outcome.add_failures_of(pre), held


async def _start(
    job: SendJob, order: AnsweredPrefix, tell: Callable[[str], None], first: Page
) -> OrderedDelivery:
    delivery = OrderedDelivery(job.transport, job.method, job.payload, job.options, order, tell)
    delivery.start_pages(*first)
    return delivery
