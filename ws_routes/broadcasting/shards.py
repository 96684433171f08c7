"""Split a queryset's recipients into keyset ranges of primary keys, at enqueue time.

One grouped query counts connected recipients per granule of ``shard_size`` consecutive
primary keys (``pk / shard_size``), then adjacent granules are merged while a shard holds at
most ``shard_size`` recipients (two adjacent shards hold more). The database counts:
200,000 recipients are one query returning about 200 rows, not 200,000 primary keys.
Sessions that connect later get
larger primary keys than any range, so the set is fixed at enqueue time.

Example: ``plan_shards(WebSocketSession.objects.filter(channel_name="lobby"), 1000)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import Count, F, Max, Min, QuerySet


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


def plan_shards(queryset: QuerySet, shard_size: int) -> list[ShardRange]:
    """Keyset ranges covering the connected sessions of ``queryset``, in primary key order."""
    check_shardable(queryset)
    if shard_size < 1:
        raise ValueError("WS_ROUTES['BACKGROUND_SHARD_SIZE'] must be at least 1")
    granules = (
        queryset.filter(connected=True)
        .order_by()
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
