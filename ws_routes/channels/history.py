"""History channels: a gap-free sequence number per message, kept rows, replay, pruning and
expiry.

A send is one INSERT that numbers itself: ``seq = MAX(seq) + 1`` of the channel, with
``(channel, seq)`` unique. Concurrent senders that compute the same number collide on the
unique index (``ON CONFLICT DO NOTHING``: no savepoint needed inside a transaction); the loser
retries with a fresh snapshot, so numbers are gap-free and in commit
order on SQLite (writes are serialised) and PostgreSQL alike. Pruning is one DELETE every
``prune_interval`` messages, never one per message, and always keeps the newest row (it is
what the next number is counted from). Expiry (``HISTORY_MAX_AGE_SECONDS``) bounds history
across channels: each pruning write also deletes a batch of expired rows of any channel, and
``clearWebSocketSessions`` deletes all of them. A message of a logged-in user that starts a new
history channel counts against ``HISTORY_NEW_CHANNELS_PER_USER``.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.db import connections, router
from django.utils import timezone

from ..channel_rules import ChannelRule
from ..conf import ws_setting
from ..errors import WsError
from ..models import ChannelMessage
from ..requests import acting_user_pk
from .payloads import MAX_SEQ, decode_data

#: Attempts of a numbering INSERT that collided with a concurrent sender.
SEQ_RETRIES = 200
#: Messages a replay returns at most in one reply (more: the reply says ``more: true``).
REPLAY_LIMIT = 500
#: Expired rows one pruning write deletes at most (bounded work on the send path).
EXPIRY_BATCH = 500


def prune_interval(rule: ChannelRule) -> int:
    """Prune every this many messages: a tenth of the count kept (1 to 100), else 100."""
    if rule.history_count is None:
        return 100
    return max(1, min(100, rule.history_count // 10))


def append(rule: ChannelRule, channel: str, data_text: str, using: str | None = None) -> int:
    """Store one message of ``channel`` and return its sequence number (one INSERT)."""
    alias = using or router.db_for_write(ChannelMessage)
    connection = connections[alias]
    table = connection.ops.quote_name(ChannelMessage._meta.db_table)
    sql = (
        f"INSERT INTO {table} (channel, seq, data, created_at) "
        f"SELECT %s, COALESCE(MAX(seq), 0) + 1, %s, %s FROM {table} WHERE channel = %s "
        "ON CONFLICT DO NOTHING RETURNING seq"
    )
    now = timezone.now()
    params: list[Any] = [channel, data_text, now, channel]
    for attempt in range(SEQ_RETRIES):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:  # a concurrent sender took this number: count again
            time.sleep(random.random() * 0.001 * min(attempt + 1, 20))  # noqa: S311 (jitter)
            continue
        seq = int(row[0])
        if seq == 1:
            _count_new_channel(channel, alias)
        if seq % prune_interval(rule) == 0:
            prune(rule, channel, seq, now, alias)
            expire(now, alias, EXPIRY_BATCH)
        return seq
    raise RuntimeError(f"Could not number a message of {channel!r}: too many concurrent senders")


def prune(rule: ChannelRule, channel: str, seq: int, now: datetime, using: str) -> int:
    """Delete what ``rule`` no longer keeps of ``channel`` (the newest row always stays)."""
    rows = ChannelMessage.objects.using(using).filter(channel=channel, seq__lt=seq)
    doomed = ChannelMessage.objects.none()
    if rule.history_count is not None:
        doomed = rows.filter(seq__lte=seq - rule.history_count)
    if rule.history_age is not None:
        doomed = doomed | rows.filter(created_at__lt=now - rule.history_age)
    deleted, _ = doomed.delete()
    return deleted


def _count_new_channel(channel: str, alias: str) -> None:
    """A message of a logged-in user started ``channel``'s history: count it; over the
    budget, take the row back and refuse (``too_many_channels``, 429)."""
    user_pk = acting_user_pk.get()
    budget = ws_setting("HISTORY_NEW_CHANNELS_PER_USER")
    if user_pk is None or budget is None:
        return
    count, window = budget
    cache = caches[ws_setting("CACHE_ALIAS")]
    key = f"ws_routes:history_channels:{user_pk}"
    if cache.add(key, 1, timeout=window):
        started = 1
    else:
        try:
            started = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            started = 1
    if started > count:
        ChannelMessage.objects.using(alias).filter(channel=channel, seq=1).delete()
        raise WsError(
            "too_many_channels",
            f"You may start history in at most {count} new channels per {window} s",
            {"channel": channel},
            status=429,
        )


def expire(now: datetime, using: str, limit: int | None = None) -> int:
    """Delete history older than ``HISTORY_MAX_AGE_SECONDS`` (at most ``limit`` rows)."""
    max_age = ws_setting("HISTORY_MAX_AGE_SECONDS")
    if max_age is None:
        return 0
    expired = ChannelMessage.objects.using(using).filter(
        created_at__lt=now - timedelta(seconds=max_age)
    )
    if limit is None:
        deleted, _ = expired.delete()
        return deleted
    doomed = list(expired.order_by("created_at").values_list("pk", flat=True)[:limit])
    deleted, _ = ChannelMessage.objects.using(using).filter(pk__in=doomed).delete()
    return deleted


def check_since(since: Any) -> int:
    """A client's ``since``: an integer from 0 to 2**53 - 1; ``WsError`` ``invalid_since``."""
    if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= MAX_SEQ:
        raise WsError(
            "invalid_since",
            "since must be the last seq received: an integer from 0 to 2**53 - 1",
            {"since": since if isinstance(since, int) and abs(since) < 2**64 else None},
        )
    return since


def last_seq(channel: str) -> int:
    """The channel's newest sequence number (0: nothing sent yet)."""
    newest = (
        ChannelMessage.objects.filter(channel=channel).order_by("-seq").values_list("seq").first()
    )
    return newest[0] if newest else 0


def replay(rule: ChannelRule, channel: str, since: Any, byte_budget: int) -> dict[str, Any]:
    """What a client that last saw ``since`` missed, oldest first, within ``byte_budget``.

    ``gap``: some of it is no longer kept (reload); ``more``: call again with the last seq.
    A ``since`` beyond the newest seq is an error (the client holds another channel's count).
    """
    since = check_since(since)
    newest = last_seq(channel)
    if since > newest:
        raise WsError(
            "invalid_since",
            "since is ahead of this channel's last message",
            {"since": since, "seq": newest},
        )
    rows = ChannelMessage.objects.filter(channel=channel, seq__gt=since)
    if rule.history_count is not None:
        rows = rows.filter(seq__gt=newest - rule.history_count)
    if rule.history_age is not None:
        rows = rows.filter(created_at__gte=timezone.now() - rule.history_age)
    max_age = ws_setting("HISTORY_MAX_AGE_SECONDS")
    if max_age is not None:  # expired, not deleted yet: not replayed either
        rows = rows.filter(created_at__gte=timezone.now() - timedelta(seconds=max_age))
    found = list(rows.order_by("seq").values_list("seq", "data")[: REPLAY_LIMIT + 1])
    messages: list[dict[str, Any]] = []
    used = 0
    for seq, text in found[:REPLAY_LIMIT]:
        used += len(text) + 64
        if messages and used > byte_budget:
            break
        messages.append({**decode_data(text), "channel": channel, "seq": seq})
    first = messages[0]["seq"] if messages else newest + 1
    return {
        "seq": newest,
        "messages": messages,
        "gap": since < newest and first > since + 1,
        "more": len(messages) < len(found),
    }
