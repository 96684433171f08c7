"""Running one send: the calling thread reads the database and hands chunks of targets over;
the loop thread does the network (:mod:`.delivery`). A sync caller blocks on each hand-over; an
async caller awaits it, and reads the database through ``sync_to_async``.

Example::

    job = SendJob("POST", encode_payload(data), transport=None)
    outcome = deliver_stream(job, queryset_rows(queryset, job.chunk_size))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ..conf import ws_settings
from . import process
from .delivery import Delivery, DeliveryOptions, Outcome, Target
from .endpoints import EndpointResolver, SettingsEndpoints
from .payload import NO_BODY, Payload
from .recipients import Row, rows_to_targets
from .transports import Transport, get_transport


class SendJob:
    """Everything one send needs, prepared and validated before anything is sent.

    ``endpoints`` says where each ``(api_id, stage)``'s posts go; by default the settings do.
    """

    def __init__(
        self,
        method: str,
        body: bytes,
        transport: Transport | str | None,
        *,
        keep_delivered: bool = False,
        endpoints: EndpointResolver | None = None,
    ) -> None:
        settings = ws_settings()
        self.method = method
        self.payload = Payload(body) if body else NO_BODY
        self.options = DeliveryOptions.from_settings(settings)
        self.chunk_size = max(1, int(settings["SEND_CHUNK_SIZE"]))
        self.resolve = endpoints if endpoints is not None else SettingsEndpoints(settings)
        self.transport = get_transport(transport)
        self.keep_delivered = keep_delivered

    def new_outcome(self) -> Outcome:
        return Outcome.empty(self.keep_delivered)

    def targets(self, rows: Iterable[Row], pre: Outcome) -> list[Target]:
        """Targets of ``rows``; blocking (credentials may be refreshed), so never in the loop."""
        self.transport.prepare()
        return rows_to_targets(rows, self.resolve, pre)

    def next_targets(self, chunks: Iterator[list[Row]], pre: Outcome) -> list[Target] | None:
        """The next non-empty chunk of targets (reading the database), or None at the end."""
        for rows in chunks:
            targets = self.targets(rows, pre)
            if targets:
                return targets
        return None

    # Coroutines run in the loop thread.

    def _delivery(self) -> Delivery:
        return Delivery(
            self.transport, self.method, self.payload, self.options, self.keep_delivered
        )

    async def deliver_list(self, targets: Sequence[Target]) -> Outcome:
        return await self._delivery().run_list(targets)

    async def start(self, first: Sequence[Target]) -> Delivery:
        delivery = self._delivery()
        delivery.start(first)
        return delivery


def deliver_list(job: SendJob, rows: list[Row]) -> Outcome:
    """Deliver to rows already in memory: one hand-over, blocking until done."""
    pre = job.new_outcome()
    targets = job.targets(rows, pre)
    if not targets:
        return pre
    return process.run_on_loop(process.sync_loop(), job.deliver_list(targets)).add_failures_of(pre)


def deliver_stream(job: SendJob, chunks: Iterator[list[Row]]) -> Outcome:
    """Deliver to every row of ``chunks`` (read lazily, chunk by chunk), blocking until done."""
    loop = process.sync_loop()
    on_loop = process.run_on_loop
    pre = job.new_outcome()
    first = job.next_targets(chunks, pre)
    if first is None:
        return pre
    if len(first) < job.chunk_size:
        # A short chunk is usually all there is (a small channel): then one hand-over.
        more = job.next_targets(chunks, pre)
        if more is None:
            return on_loop(loop, job.deliver_list(first)).add_failures_of(pre)
        first = first + more
    delivery = on_loop(loop, job.start(first))
    try:
        while (targets := job.next_targets(chunks, pre)) is not None:
            on_loop(loop, delivery.put(targets))
    finally:
        # Also after a database error: what was handed over is delivered and accounted for.
        outcome = on_loop(loop, delivery.finish())
    return outcome.add_failures_of(pre)


async def adeliver_list(job: SendJob, rows: list[Row]) -> Outcome:
    """:func:`deliver_list` for async callers. The resolver may read the database (the
    gateway's region), so targets are made in the thread the ORM uses."""
    from asgiref.sync import sync_to_async

    pre = job.new_outcome()
    targets = await sync_to_async(job.targets)(rows, pre)
    if not targets:
        return pre
    outcome = await process.await_on_loop(process.sender_loop(), job.deliver_list(targets))
    return outcome.add_failures_of(pre)


async def adeliver_stream(job: SendJob, chunks: Iterator[list[Row]]) -> Outcome:
    """:func:`deliver_stream` for async callers: the same steps, awaited."""
    from asgiref.sync import sync_to_async

    loop = process.sender_loop()
    on_loop = process.await_on_loop
    pre = job.new_outcome()
    next_targets = sync_to_async(job.next_targets)  # thread-sensitive: the ORM reads here
    first = await next_targets(chunks, pre)
    if first is None:
        return pre
    if len(first) < job.chunk_size:
        more = await next_targets(chunks, pre)
        if more is None:
            return (await on_loop(loop, job.deliver_list(first))).add_failures_of(pre)
        first = first + more
    delivery = await on_loop(loop, job.start(first))
    try:
        while (targets := await next_targets(chunks, pre)) is not None:
            await on_loop(loop, delivery.put(targets))
    finally:
        outcome = await on_loop(loop, delivery.finish())
    return outcome.add_failures_of(pre)
