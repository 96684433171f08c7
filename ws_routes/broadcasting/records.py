"""The ``Broadcast`` record of a background send and its shards, and every change of their
state: claim a shard, record its counts, cancel, finish. Each is one short statement (or two
in one transaction), so any number of workers can share a broadcast.

A shard is a keyset range of primary keys ``[first_pk, last_pk]`` holding ``expected``
recipients, written by the start task when it counts the recipient set fixed at enqueue time
(``total`` is None until then). ``delivered + gone + failed + cancelled == total`` once finished.

Example::

    broadcast = WebSocketSession.objects.filter(channel_name="lobby").send(data, background=True)
    broadcast.refresh_from_db()
    print(broadcast.state, broadcast.delivered, broadcast.total)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from .recipients import InvalidRecipients
from .shards import ShardRange, recipients_at_enqueue


class Broadcast(models.Model):
    """One background send: what was sent (a digest), to how many, and what became of them."""

    class State(models.TextChoices):
        ENQUEUED = "enqueued", "Enqueued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    payload = models.BinaryField(help_text="The encoded message (at most 128 KiB).")
    payload_digest = models.CharField(max_length=64, help_text="SHA-256 of the payload.")
    # Which sessions: the model, the database and a JSON description of the queryset sent to
    # (broadcasting.recipients: data that can only select sessions, validated on read).
    recipients_model = models.CharField(max_length=128)
    recipients_db = models.CharField(max_length=64, default="default")
    recipients = models.JSONField(default=dict)
    # The table's largest primary key at enqueue: sessions that connect later are not recipients.
    recipients_max_pk = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ENQUEUED)
    total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recipients; empty until the start task counted them."
    )
    delivered = models.PositiveIntegerField(default=0)
    gone = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    # Recipients of redelivered shards that may have received the message twice (at most one
    # shard's worth per redelivery).
    possible_duplicates = models.PositiveIntegerField(default=0)
    shards_total = models.PositiveIntegerField(default=0)
    pending_shards = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cancel_broadcast", "Can cancel a background broadcast")]

    def __str__(self) -> str:
        to = "recipients not counted yet" if self.total is None else self.total
        return f"broadcast {self.pk} to {to} ({self.state})"

    @property
    def accounted(self) -> int:
        """Recipients whose fate is known: delivered, gone, failed or cancelled."""
        return self.delivered + self.gone + self.failed + self.cancelled

    @property
    def is_done(self) -> bool:
        return self.state in (self.State.FINISHED, self.State.CANCELLED, self.State.FAILED)

    def mark_started(self) -> None:
        """ENQUEUED -> RUNNING (once: a redelivered start task changes nothing)."""
        now = timezone.now()
        Broadcast.objects.filter(pk=self.pk, state=self.State.ENQUEUED).update(
            state=self.State.RUNNING, started_at=now
        )

    def cancel(self) -> int:
        """Drop the shards no worker has taken yet; returns the recipients cancelled.

        Shards already running finish; the broadcast ends ``cancelled`` when they have. Before
        the start task counted the recipients, they are counted here, all cancelled.
        """
        if self.total is None and self.state == self.State.ENQUEUED:
            try:
                recipients = recipients_at_enqueue(self).count()
            except InvalidRecipients:  # nothing can be sent to them: nobody to count
                recipients = 0
            # Conditional: a start task that counted first wins, and the shards are dropped below.
            if end_uncounted(self.pk, self.State.CANCELLED, cancelled=recipients, total=recipients):
                self.refresh_from_db()
                return recipients
        with transaction.atomic(using=self._state.db):
            shards = BroadcastShard.objects.select_for_update().filter(
                broadcast_id=self.pk, state=BroadcastShard.State.PENDING
            )
            dropped = list(shards.values_list("pk", "expected", "delivered", "gone", "failed"))
            # A shard given back after a failed attempt keeps what its checkpoints counted.
            counted = [sum(row[n] for row in dropped) for n in (2, 3, 4)]
            recipients = sum(row[1] for row in dropped) - sum(counted)
            BroadcastShard.objects.filter(pk__in=[row[0] for row in dropped]).update(
                state=BroadcastShard.State.CANCELLED, finished_at=timezone.now()
            )
            Broadcast.objects.filter(pk=self.pk).exclude(
                state__in=[self.State.FINISHED, self.State.FAILED]
            ).update(
                state=self.State.CANCELLED,
                cancelled=F("cancelled") + recipients,
                delivered=F("delivered") + counted[0],
                gone=F("gone") + counted[1],
                failed=F("failed") + counted[2],
                pending_shards=F("pending_shards") - len(dropped),
            )
            _finish_if_done(self.pk)
        self.refresh_from_db()
        return recipients


class BroadcastShard(models.Model):
    """One keyset range of a broadcast's recipients, delivered by one task."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    first_pk = models.BigIntegerField()
    last_pk = models.BigIntegerField()
    expected = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The counts so far while running (as of the last checkpoint), the final counts once done.
    delivered = models.PositiveIntegerField(default=0)
    gone = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    checkpoint_pk = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Last primary key sent, as of the last checkpoint (resumed after).",
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "index"], name="ws_routes_broadcastshard_unique_index"
            )
        ]

    def __str__(self) -> str:
        return f"shard {self.index} of broadcast {self.broadcast_id} ({self.state})"


class Claim:
    """What :func:`claim_shard` decided: run it (``attempt``), wait (``retry_in``), or nothing."""

    def __init__(
        self, shard: BroadcastShard | None, attempt: int = 0, retry_in: float = 0.0
    ) -> None:
        self.shard = shard
        self.attempt = attempt
        self.retry_in = retry_in

    @property
    def run(self) -> bool:
        return self.shard is not None and self.attempt > 0


def claim_shard(
    shard_id: int, lease_seconds: float, max_attempts: int, resend_bound: int | None = None
) -> Claim:
    """Take a shard for ``lease_seconds``: a pending one, or a running one whose lease expired
    (its worker died). One conditional UPDATE decides between racing workers.

    A shard over ``max_attempts`` is failed with its error instead (never loops forever). A
    redelivery adds to ``possible_duplicates`` what the dead attempt may have sent after its
    last checkpoint: at most ``resend_bound`` posts (None: the rest of the shard).
    """
    now = timezone.now()
    shard = BroadcastShard.objects.filter(pk=shard_id).first()
    if shard is None or shard.state not in (shard.State.PENDING, shard.State.RUNNING):
        return Claim(None)
    if shard.state == shard.State.RUNNING and shard.lease_until and shard.lease_until > now:
        return Claim(shard, retry_in=(shard.lease_until - now).total_seconds())
    if shard.attempts >= max_attempts:
        fail_shard(shard, shard.error or f"gave up after {shard.attempts} attempts")
        return Claim(None)
    taken = (
        BroadcastShard.objects.filter(pk=shard_id, attempts=shard.attempts)
        .filter(Q(state=shard.State.PENDING) | Q(state=shard.State.RUNNING, lease_until__lte=now))
        .update(
            state=shard.State.RUNNING,
            attempts=F("attempts") + 1,
            lease_until=now + timedelta(seconds=lease_seconds),
        )
    )
    if not taken:  # another worker won the race
        return Claim(None)
    if shard.attempts:  # a redelivery: some of these recipients may already have it
        unrecorded = max(0, shard.expected - shard.delivered - shard.gone - shard.failed)
        if resend_bound is not None:
            unrecorded = min(unrecorded, resend_bound)
        Broadcast.objects.filter(pk=shard.broadcast_id).update(
            possible_duplicates=F("possible_duplicates") + unrecorded
        )
    shard.attempts += 1
    shard.state = shard.State.RUNNING
    return Claim(shard, attempt=shard.attempts)


def checkpoint_shard(
    shard: BroadcastShard,
    last_pk: int,
    counts: tuple[int, int, int],
    lease_seconds: float,
) -> bool:
    """Record a running shard's progress: the last primary key sent and the counts so far
    (delivered, gone, failed), and renew its lease. One UPDATE, conditional on the attempt:
    False when this attempt no longer holds the shard (taken over, failed, cancelled)."""
    delivered, gone, failed = counts
    held = BroadcastShard.objects.filter(
        pk=shard.pk, state=shard.State.RUNNING, attempts=shard.attempts
    ).update(
        checkpoint_pk=last_pk,
        delivered=delivered,
        gone=gone,
        failed=failed,
        lease_until=timezone.now() + timedelta(seconds=lease_seconds),
    )
    return bool(held)


def record_shard(shard: BroadcastShard, delivered: int, gone: int, failed: int) -> bool:
    """Record a delivered shard's counts, once: the shard's UPDATE is conditional on its
    attempt, and the broadcast's counters move in the same transaction. False if another
    attempt recorded it first (or it was failed meanwhile)."""
    with transaction.atomic():
        done = BroadcastShard.objects.filter(
            pk=shard.pk, state=shard.State.RUNNING, attempts=shard.attempts
        ).update(
            state=shard.State.DONE,
            delivered=delivered,
            gone=gone,
            failed=failed,
            finished_at=timezone.now(),
            lease_until=None,
        )
        if not done:
            return False
        Broadcast.objects.filter(pk=shard.broadcast_id).update(
            delivered=F("delivered") + delivered,
            gone=F("gone") + gone,
            failed=F("failed") + failed,
            pending_shards=F("pending_shards") - 1,
        )
        _finish_if_done(shard.broadcast_id)
    return True


def fail_shard(shard: BroadcastShard, error: str) -> bool:
    """End a shard as failed, the error kept: the recipients its checkpoints recorded as
    delivered or gone keep that count, all the others count as failed."""
    error = error[:2000]
    with transaction.atomic():
        row = (
            BroadcastShard.objects.select_for_update()
            .filter(pk=shard.pk, state__in=[shard.State.PENDING, shard.State.RUNNING])
            .values_list("delivered", "gone")
            .first()
        )
        if row is None:
            return False
        delivered = min(row[0], shard.expected)
        gone = min(row[1], shard.expected - delivered)
        failed = shard.expected - delivered - gone
        BroadcastShard.objects.filter(pk=shard.pk).update(
            state=shard.State.FAILED,
            delivered=delivered,
            gone=gone,
            failed=failed,
            error=error,
            finished_at=timezone.now(),
            lease_until=None,
        )
        Broadcast.objects.filter(pk=shard.broadcast_id).update(
            delivered=F("delivered") + delivered,
            gone=F("gone") + gone,
            failed=F("failed") + failed,
            pending_shards=F("pending_shards") - 1,
            error=error,
        )
        _finish_if_done(shard.broadcast_id)
    return True


def release_shard(shard: BroadcastShard, error: str) -> None:
    """Give a shard back after a failed attempt (its error kept) so the retry may take it."""
    BroadcastShard.objects.filter(
        pk=shard.pk, state=shard.State.RUNNING, attempts=shard.attempts
    ).update(state=shard.State.PENDING, lease_until=None, error=error[:2000])


def _uncounted(broadcast_id: Any) -> models.QuerySet:
    """The broadcast, while no start task has counted it (the condition of every first write)."""
    return Broadcast.objects.filter(
        pk=broadcast_id, state=Broadcast.State.ENQUEUED, total__isnull=True
    )


def plan_broadcast(broadcast_id: Any, shards: list[ShardRange]) -> bool:
    """Start a broadcast with the shards its start task counted, once.

    The UPDATE is conditional on the broadcast being uncounted, so a redelivered or racing
    start task, or a cancel that came first, writes nothing (False); the shards are written
    in the same transaction.
    """
    with transaction.atomic():
        planned = _uncounted(broadcast_id).update(
            state=Broadcast.State.RUNNING,
            started_at=timezone.now(),
            total=sum(shard.expected for shard in shards),
            shards_total=len(shards),
            pending_shards=len(shards),
        )
        if not planned:
            return False
        BroadcastShard.objects.bulk_create(
            BroadcastShard(
                broadcast_id=broadcast_id,
                index=index,
                first_pk=shard.first_pk,
                last_pk=shard.last_pk,
                expected=shard.expected,
            )
            for index, shard in enumerate(shards)
        )
        _finish_if_done(broadcast_id)  # nobody left to send to: finished now
    return True


def end_uncounted(
    broadcast_id: Any,
    state: str,
    *,
    total: int,
    cancelled: int = 0,
    failed: int = 0,
    error: str = "",
) -> bool:
    """End a broadcast its start task has not counted yet (cancelled, or failed to start):
    one conditional UPDATE, so it loses to a start task that counted first (False)."""
    now = timezone.now()
    ended = _uncounted(broadcast_id).update(
        state=state,
        total=total,
        cancelled=cancelled,
        failed=failed,
        error=error[:2000],
        finished_at=now,
    )
    return bool(ended)


def fail_broadcast(broadcast_id: Any, error: str) -> None:
    """End a broadcast that could not be started (e.g. its recipients cannot be read)."""
    uncounted = _uncounted(broadcast_id).first()
    if uncounted is not None:
        try:
            recipients = recipients_at_enqueue(uncounted).count()
        except Exception:  # the reason it could not start: nobody counted, the error kept
            recipients = 0
        failed = Broadcast.State.FAILED
        if end_uncounted(broadcast_id, failed, total=recipients, failed=recipients, error=error):
            return
    with transaction.atomic():
        pending = BroadcastShard.objects.filter(
            broadcast_id=broadcast_id,
            state__in=[BroadcastShard.State.PENDING, BroadcastShard.State.RUNNING],
        )
        recipients = sum(pending.values_list("expected", flat=True))
        count = pending.update(state=BroadcastShard.State.FAILED, error=error[:2000])
        Broadcast.objects.filter(pk=broadcast_id).update(
            failed=F("failed") + recipients,
            pending_shards=F("pending_shards") - count,
            error=error[:2000],
        )
        _finish_if_done(broadcast_id)


def _finish_if_done(broadcast_id: Any) -> None:
    """Set the final state and time once no shard is pending (called inside a transaction)."""
    now = timezone.now()
    unfinished = Broadcast.objects.filter(pk=broadcast_id, pending_shards=0, finished_at=None)
    unfinished.filter(state=Broadcast.State.CANCELLED).update(finished_at=now)
    unfinished.exclude(state=Broadcast.State.CANCELLED).filter(failed__gt=0).exclude(
        error=""
    ).update(state=Broadcast.State.FAILED, finished_at=now)
    unfinished.exclude(state=Broadcast.State.CANCELLED).update(
        state=Broadcast.State.FINISHED, finished_at=now
    )
