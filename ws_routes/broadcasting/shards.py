"""Which sessions a background broadcast goes to, and their split into keyset ranges.

The caller's enqueue fixes the recipient set in constant time, whatever its size: the largest
primary key of the sessions' table (``recipients_max_pk``: sessions that connect later have
larger ones) and the enqueue instant (sessions that disconnect after it are still recipients,
counted ``gone``). Counting and splitting happen on a worker, in the start task: one grouped
query counts the recipients per granule of ``shard_size`` consecutive primary keys
(``pk / shard_size``), then adjacent granules are merged while a shard holds at most
``shard_size`` recipients (two adjacent shards hold more). 200,000 recipients are one query
returning about 200 rows, not 200,000 primary keys.

Example: ``plan_shards(recipients_at_enqueue(broadcast), 1000)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, F, Max, Min, Q, QuerySet

from .recipients import SESSION_MODEL, InvalidRecipients, recipients_from


@dataclass(frozen=True)
class ShardRange:
    """Primary keys ``first_pk..last_pk`` (inclusive), holding ``expected`` recipients."""

    first_pk: int
    last_pk: int
    expected: int


class CannotShard(ValueError):
    """This queryset cannot be sent in the background (the message says why and what to do)."""


def check_shardable(queryset: QuerySet) -> None:
    """Refuse what keyset ranges cannot split: slices, unions, non-integer primary keys."""
    query = queryset.query
    if query.is_sliced or query.combinator:
        raise CannotShard(
            "a sliced or combined queryset (qs[:n], qs.union(...)) cannot be sent with "
            "background=True: filter it instead, or send it in-process"
        )
    pk = queryset.model._meta.pk
    if not isinstance(pk, (models.AutoField, models.BigAutoField, models.IntegerField)):
        raise CannotShard(
            f"{queryset.model.__name__} has a non-integer primary key ({type(pk).__name__}); "
            "background sends split recipients by integer primary key ranges"
        )


def largest_pk(queryset: QuerySet) -> int | None:
    """The largest primary key of the queryset's whole table (one index lookup), or None."""
    table = queryset.model._base_manager.db_manager(queryset.db)
    return table.order_by("-pk").values_list("pk", flat=True).first()


def recipients_at_enqueue(broadcast: Any) -> QuerySet:
    """The sessions ``broadcast`` was enqueued for: its recipient description (validated:
    :class:`InvalidRecipients` otherwise), at most its ``recipients_max_pk``, connected at its
    ``created_at`` (still connected, or disconnected since). A record without a bound (written
    before 0006) means the connected ones."""
    if broadcast.recipients_model != SESSION_MODEL:
        raise InvalidRecipients(f"model {broadcast.recipients_model!r} is not the sessions'")
    if broadcast.recipients_db not in settings.DATABASES:
        raise InvalidRecipients(f"database {broadcast.recipients_db!r} is not configured")
    queryset = recipients_from(broadcast.recipients, broadcast.recipients_db)
    if broadcast.recipients_max_pk is None:
        return queryset.filter(connected=True)
    return queryset.filter(
        Q(connected=True) | Q(disconnected_at__gte=broadcast.created_at),
        pk__lte=broadcast.recipients_max_pk,
    )


def plan_shards(recipients: QuerySet, shard_size: int) -> list[ShardRange]:
    """Keyset ranges covering ``recipients`` (already filtered), in primary key order."""
    check_shardable(recipients)
    check_shard_size(shard_size)
    granules = (
        recipients.order_by()
        .annotate(granule=F("pk") / shard_size)
        .values("granule")
        .annotate(n=Count("pk", distinct=True), low=Min("pk"), high=Max("pk"))
        .order_by("granule")
        .values_list("n", "low", "high")
    )
    shards: list[ShardRange] = []
    count, first, last = 0, 0, 0
    for n, low, high in granules:
        if count and count + n > shard_size:
            shards.append(ShardRange(first, last, count))
            count = 0
        if not count:
            first = low
        count += n
        last = high
    if count:
        shards.append(ShardRange(first, last, count))
    return shards


def check_shard_size(shard_size: int) -> None:
    if shard_size < 1:
        raise ValueError("WS_ROUTES['BACKGROUND_SHARD_SIZE'] must be at least 1")
