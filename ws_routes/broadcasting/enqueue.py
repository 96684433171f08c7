"""Enqueue a background broadcast: checks first, then one transaction, then one publish.

Everything that can be refused is refused before anything is written: the payload (over
128 KiB, not JSON), the queryset (sliced, not picklable), Celery missing. Then the recipients
are split into keyset shards (:mod:`.shards`), the ``Broadcast`` and its shards are written in
one transaction, and a single ``start`` task is published (it publishes the shard tasks from a
worker, so the caller does one broker round trip whatever the size). A broker that is down
raises :class:`BroadcastEnqueueError` and the records are deleted: nothing is half-enqueued.

Example::

    broadcast = enqueue_broadcast(WebSocketSession.objects.filter(channel_name="lobby"), data)
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import ws_settings
from ..sending import encode_payload
from . import publish as publishing
from .publish import START_TASK, BroadcastEnqueueError, celery_app
from .records import Broadcast, BroadcastShard, fail_broadcast
from .runner import run_inline
from .shards import CannotShard, check_shardable, plan_shards

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
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"a background send needs a QuerySet, not {type(queryset).__name__}")
    body = encode_payload(data)  # PayloadTooLarge, TypeError: before anything is written
    check_shardable(queryset)
    try:
        query_blob = pickle.dumps(queryset.query)
    except Exception as exc:
        raise CannotShard(
            f"this queryset cannot be handed to a worker (its query does not pickle: {exc})"
        ) from exc
    settings = ws_settings()
    shards = plan_shards(queryset, int(settings["BACKGROUND_SHARD_SIZE"]))
    total = sum(shard.expected for shard in shards)
    inline = total <= int(settings["BACKGROUND_INLINE_MAX"])
    if publish and not inline:
        celery_app()  # ImproperlyConfigured without Celery, before anything is written
    model = queryset.model._meta
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            payload=body,
            payload_digest=hashlib.sha256(body).hexdigest(),
            recipients_model=model.label_lower,
            recipients_db=queryset.db,
            recipients_query=query_blob,
            description=description[:255],
            total=total,
            shards_total=len(shards),
            pending_shards=len(shards),
        )
        BroadcastShard.objects.bulk_create(
            BroadcastShard(
                broadcast=broadcast,
                index=index,
                first_pk=shard.first_pk,
                last_pk=shard.last_pk,
                expected=shard.expected,
            )
            for index, shard in enumerate(shards)
        )
    if shards and not publish:
        return broadcast
    if not shards or inline:
        if shards:
            run_inline(broadcast.pk)
        else:
            now = timezone.now()
            Broadcast.objects.filter(pk=broadcast.pk).update(
                state=Broadcast.State.FINISHED, started_at=now, finished_at=now
            )
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
