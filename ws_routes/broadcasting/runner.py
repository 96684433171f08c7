"""The work of a background broadcast as plain functions: start it, run one shard.

They take and return ids and numbers only, so any task runner can call them: the Celery tasks
of :mod:`ws_routes.tasks`, Django 6's ``django.tasks``, or a loop in-process (the
``broadcast`` command without ``--background``). See docs/background.md.

Example::

    for shard_id in start_broadcast(broadcast_id) or []:
        run_shard(shard_id)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from .. import sending
from ..conf import ws_settings
from ..gateway_endpoints import GatewayEndpoints
from ..sending import Checkpoint, SendResult
from .checkpoint import resend_bound, shard_checkpoint
from .recipients import InvalidRecipients
from .records import (
    Broadcast,
    BroadcastShard,
    checkpoint_shard,
    claim_shard,
    fail_broadcast,
    fail_shard,
    plan_broadcast,
    record_shard,
    release_shard,
)
from .shards import plan_shards, recipients_at_enqueue

logger = logging.getLogger("ws_routes.background")


@dataclass
class ShardRun:
    """What :func:`run_shard` did: ``ran`` it, or asks to be called again in ``retry_in`` s."""

    ran: bool = False
    retry_in: float = 0.0
    failed: bool = False


def start_broadcast(broadcast_id: Any) -> list[int] | None:
    """Count the recipients and write the shards (once), mark the broadcast running; the ids
    of its shards still to run, or None when the record is not visible (yet: the enqueuing
    transaction may not have committed)."""
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        return None
    if broadcast.is_done:
        return []
    if broadcast.total is None:  # the grouped count runs here, on a worker, not in the caller
        shard_size = int(ws_settings()["BACKGROUND_SHARD_SIZE"])
        try:
            recipients = recipients_at_enqueue(broadcast)
        except InvalidRecipients as exc:  # a row that does not validate is never run
            logger.error("broadcast %s refused: %s", broadcast.pk, exc)
            fail_broadcast(broadcast.pk, f"invalid recipients: {exc}")
            return []
        plan_broadcast(broadcast.pk, plan_shards(recipients, shard_size))
    else:  # counted already: a redelivered start task, or a record written before 0006
        broadcast.mark_started()
    pending = BroadcastShard.objects.filter(
        broadcast_id=broadcast_id,
        state__in=[BroadcastShard.State.PENDING, BroadcastShard.State.RUNNING],
    )
    return list(pending.order_by("index").values_list("pk", flat=True))


def shard_recipients(broadcast: Broadcast, shard: BroadcastShard) -> QuerySet:
    """The shard's sessions still connected: the recipients fixed at enqueue time within the
    shard's primary key range, at most the ``expected`` recipients counted there.

    The bound is a primary key (the ``expected``-th recipient's, one indexed query), not a
    slice: a sliced queryset cannot be filtered further, so the sender could not page it by
    keyset, a checkpoint could not resume it and a capture (``WsTestClient``) could not read
    it (issue 26: every shard raised "Cannot filter a query once a slice has been taken").
    """
    recipients = recipients_at_enqueue(broadcast)
    in_range = recipients.filter(pk__gte=shard.first_pk, pk__lte=shard.last_pk, connected=True)
    if shard.expected < 1:
        return in_range.none()
    pks = in_range.order_by("pk").values_list("pk", flat=True)
    bound = list(pks[shard.expected - 1 : shard.expected])
    return in_range.filter(pk__lte=bound[0]) if bound else in_range


def run_shard(shard_id: int, *, transport: Any = None, endpoints: Any = None) -> ShardRun:
    """Deliver one shard if nobody else holds it, and record its counts once.

    Raises when the delivery raised and attempts remain (the task runner retries); after
    ``BACKGROUND_SHARD_MAX_ATTEMPTS`` the shard is failed with the error instead.
    """
    settings = ws_settings()
    max_attempts = max(1, int(settings["BACKGROUND_SHARD_MAX_ATTEMPTS"]))
    lease = float(settings["BACKGROUND_SHARD_LEASE_SECONDS"])
    refused: ImproperlyConfigured | None = None
    try:
        checkpoint = shard_checkpoint(settings)
    except ImproperlyConfigured as exc:  # refused below, once claimed: never sent unchecked
        checkpoint, refused = 0, exc
    claim = claim_shard(shard_id, lease, max_attempts, resend_bound(settings, checkpoint))
    if not claim.run:
        return ShardRun(retry_in=claim.retry_in)
    shard = claim.shard
    assert shard is not None
    if refused is not None:  # a setting no retry can mend: the shard fails, saying why
        logger.error("shard %s not sent: %s", shard_id, refused)
        fail_shard(shard, str(refused))
        return ShardRun(failed=True)
    broadcast = Broadcast.objects.get(pk=shard.broadcast_id)
    if endpoints is None:  # each session's posts to its own gateway row's region (issue 9)
        gateways = apps.get_model("ws_routes", "ApiGateway")._default_manager
        endpoints = GatewayEndpoints(ws_settings(), gateways.using(broadcast.recipients_db))
    try:
        recipients = shard_recipients(broadcast, shard)
    except InvalidRecipients as exc:  # changed under a running broadcast: never run it
        logger.error("broadcast %s refused: %s", broadcast.pk, exc)
        fail_shard(shard, f"invalid recipients: {exc}")
        return ShardRun(failed=True)
    try:
        result = _send_with_checkpoints(
            shard, recipients, bytes(broadcast.payload), checkpoint, lease, transport, endpoints
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("shard %s attempt %d failed: %s", shard_id, shard.attempts, error)
        if shard.attempts >= max_attempts:
            fail_shard(shard, error)
            return ShardRun(failed=True)
        release_shard(shard, error)
        raise
    if result is None:  # another attempt holds the shard now: it records the counts
        logger.warning("shard %s attempt %d lost its lease; stopped", shard_id, shard.attempts)
        return ShardRun()
    # Recipients counted at enqueue time but gone since (disconnected, deleted) are gone.
    gone = result.gone + max(0, shard.expected - result.total)
    record_shard(shard, result.delivered, gone, result.failed)
    return ShardRun(ran=True)


def _send_with_checkpoints(
    shard: BroadcastShard,
    recipients: QuerySet,
    payload: bytes,
    checkpoint: int,
    lease: float,
    transport: Any,
    endpoints: Any,
) -> SendResult | None:
    """Send to ``recipients`` after the shard's checkpoint as one stream in primary key order,
    recording checkpoints (one UPDATE each with the counts, renewing the lease) while the next
    posts go on, no post more than ``checkpoint`` past the last recorded one; the counts of
    every attempt together, or None when this attempt lost the shard (it stops sending)."""
    before = SendResult(delivered=shard.delivered, gone=shard.gone, failed=shard.failed)
    rest = recipients
    if shard.checkpoint_pk is not None:  # a redelivery: what the last checkpoint covers is done
        rest = recipients.filter(pk__gt=shard.checkpoint_pk)

    def record(progress: Checkpoint) -> bool:
        counts = (
            before.delivered + progress.delivered,
            before.gone + progress.gone,
            before.failed + progress.failed,
        )
        return checkpoint_shard(shard, progress.last_pk, counts, lease)

    result = sending.send_with_checkpoints(
        rest,
        payload,
        resend_bound=checkpoint,
        record=record,
        transport=transport,
        endpoints=endpoints,
    )
    if result is None:
        return None
    return SendResult(
        delivered=before.delivered + result.delivered,
        gone=before.gone + result.gone,
        failed=before.failed + result.failed,
    )


def run_inline(broadcast_id: Any, *, transport: Any = None, endpoints: Any = None) -> None:
    """Run a whole broadcast in this process, shard after shard."""
    for shard_id in start_broadcast(broadcast_id) or []:
        while True:
            try:
                run = run_shard(shard_id, transport=transport, endpoints=endpoints)
            except Exception:
                continue  # the next attempt, or the last one fails the shard
            if not run.retry_in:
                break
            logger.warning("shard %s is held by another worker; not waiting for it", shard_id)
            break


def fail_unstartable(broadcast_id: Any, error: str) -> None:
    """Fail a broadcast whose start could not be published (e.g. the broker went down
    between the commit and the publish of an ``on_commit`` send)."""
    fail_broadcast(broadcast_id, error)
