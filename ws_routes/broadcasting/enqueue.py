"""Enqueue a background broadcast: checks first, then one row, then one publish.

Everything that can be refused is refused before anything is written: the payload (over
128 KiB, not JSON), the queryset (sliced, or not describable as data: :mod:`.recipients`),
Celery missing. The caller's cost
does not grow with the recipients: the set is fixed by the table's largest primary key and the
enqueue instant (:mod:`.shards`), at most ``BACKGROUND_INLINE_MAX + 1`` recipients are counted
(to run small sends here), one ``Broadcast`` row is written and a single ``start`` task is
published. The worker that runs it counts the recipients, writes the shards and publishes one
task per shard. A broker that is down raises :class:`BroadcastEnqueueError` and the record is
deleted: nothing is half-enqueued.

Example::

    broadcast = enqueue_broadcast(WebSocketSession.objects.filter(channel_name="lobby"), data)
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import ws_settings
from ..sending import encode_payload
from . import publish as publishing
from .checkpoint import shard_checkpoint
from .publish import START_TASK, BroadcastEnqueueError, celery_app
from .recipients import describe
from .records import Broadcast, fail_broadcast
from .runner import run_inline
from .shards import CannotShard, check_shard_size, check_shardable, largest_pk

logger = logging.getLogger("ws_routes.background")


def enqueue_broadcast(
    queryset: QuerySet,
    data: Any,
    *,
    on_commit: bool = False,
    description: str = "",
    publish: bool = True,
) -> Broadcast:
    """Send ``data`` to the connected sessions of ``queryset`` on background workers.

    Returns the saved :class:`Broadcast` at once. With ``on_commit=True`` inside a transaction,
    the records are written in it and the broadcast is published only once it commits (a
    rollback leaves nothing). Sends of at most ``BACKGROUND_INLINE_MAX`` recipients run here
    and return their finished ``Broadcast``. ``publish=False`` only writes the records (the
    caller runs the shards itself, as the ``broadcast`` command does without ``--background``).
    Until the start task has counted them, ``total`` is None.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"a background send needs a QuerySet, not {type(queryset).__name__}")
    body = encode_payload(data)  # PayloadTooLarge, TypeError: before anything is written
    check_shardable(queryset)
    try:
        recipients = describe(queryset)  # data a worker rebuilds, never code
    except ValueError as exc:
        raise CannotShard(str(exc)) from exc
    settings = ws_settings()
    check_shard_size(int(settings["BACKGROUND_SHARD_SIZE"]))
    shard_checkpoint(settings)  # ImproperlyConfigured: refused here, not on every worker
    inline_max = max(0, int(settings["BACKGROUND_INLINE_MAX"]))
    max_pk = largest_pk(queryset)
    # Bounded: at most inline_max + 1 rows are counted, whatever the size of the set.
    some = 0
    if max_pk is not None:
        connected = queryset.filter(connected=True, pk__lte=max_pk).order_by()
        some = connected[: inline_max + 1].count()
    inline = some <= inline_max
    if publish and not inline:
        celery_app()  # ImproperlyConfigured without Celery, before anything is written
    model = queryset.model._meta
    nobody, now = not some, timezone.now()
    broadcast = Broadcast.objects.create(
        payload=body,
        payload_digest=hashlib.sha256(body).hexdigest(),
        recipients_model=model.label_lower,
        recipients_db=queryset.db,
        recipients=recipients,
        recipients_max_pk=max_pk,
        description=description[:255],
        total=0 if nobody else None,
        state=Broadcast.State.FINISHED if nobody else Broadcast.State.ENQUEUED,
        started_at=now if nobody else None,
        finished_at=now if nobody else None,
    )
    if nobody or not publish:
        return broadcast
    if inline:
        run_inline(broadcast.pk)
        broadcast.refresh_from_db()
        return broadcast
    queue = settings["BACKGROUND_QUEUE"]
    connection = transaction.get_connection()
    if on_commit and connection.in_atomic_block:

        def publish_on_commit() -> None:
            try:
                publishing.publish(START_TASK, (broadcast.pk,), queue)
            except BroadcastEnqueueError as exc:
                logger.error("broadcast %s not started: %s", broadcast.pk, exc)
                fail_broadcast(broadcast.pk, str(exc))

        transaction.on_commit(publish_on_commit)
        return broadcast
    try:
        publishing.publish(START_TASK, (broadcast.pk,), queue)
    except BroadcastEnqueueError:
        # Only an untouched record is removed (an eager run may have started it).
        Broadcast.objects.filter(pk=broadcast.pk, state=Broadcast.State.ENQUEUED).delete()
        raise
    return broadcast
