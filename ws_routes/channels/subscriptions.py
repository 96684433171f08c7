"""Subscribing a socket to a channel: one INSERT that also enforces the per-socket cap.

The INSERT picks the socket's lowest free ``slot`` below ``MAX_SUBSCRIPTIONS_PER_SOCKET``;
``(session, slot)`` and ``(session, channel)`` are unique, so concurrent subscribes can neither
exceed the cap nor duplicate a channel: the loser of a race inserts nothing (``ON CONFLICT DO
NOTHING``: no savepoint, no broken transaction) and retries, seeing the winner's row.
It only inserts for a connected session (on PostgreSQL it takes a share lock on the session
row), so a subscribe racing a disconnect cannot leave a row behind for a closed socket.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.utils import timezone

from ..conf import ws_setting
from ..errors import WsError
from ..models import Subscription, WebSocketSession

#: Attempts of an INSERT that lost a race to a concurrent subscribe of the same socket.
RACE_RETRIES = 8


def _insert_sql(vendor: str, quote: Any) -> str:
    sub = quote(Subscription._meta.db_table)
    ses = quote(WebSocketSession._meta.db_table)
    free_slot = (
        f"CASE WHEN NOT EXISTS (SELECT 1 FROM {sub} a WHERE a.session_id = s.id AND a.slot = 0) "
        f"THEN 0 ELSE (SELECT MIN(a.slot + 1) FROM {sub} a WHERE a.session_id = s.id "
        f"AND a.slot + 1 < %s AND NOT EXISTS (SELECT 1 FROM {sub} b "
        f"WHERE b.session_id = s.id AND b.slot = a.slot + 1)) END"
    )
    lock = " FOR SHARE OF s" if vendor == "postgresql" else ""
    return (
        f"INSERT INTO {sub} (session_id, channel, slot, created_at) "
        f"SELECT s.id, %s, {free_slot}, %s FROM {ses} s "
        f"WHERE s.connection_id = %s AND s.connected = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {sub} x WHERE x.session_id = s.id AND x.channel = %s) "
        f"AND {free_slot} IS NOT NULL{lock} ON CONFLICT DO NOTHING"
    )


def _cap() -> int:
    cap = ws_setting("MAX_SUBSCRIPTIONS_PER_SOCKET")
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 32767:
        raise ValueError("WS_ROUTES['MAX_SUBSCRIPTIONS_PER_SOCKET'] must be an int, 1 to 32767")
    return cap


def insert_subscription(connection_id: str, channel: str, using: str | None = None) -> None:
    """Subscribe the open socket ``connection_id`` to ``channel`` (already authorised).

    ``WsError``: ``already_subscribed``, ``too_many_subscriptions`` (the cap) or
    ``unknown_connection`` (closed meanwhile); nothing is written then.
    """
    alias = using or router.db_for_write(Subscription)
    connection = connections[alias]
    cap = _cap()
    sql = _insert_sql(connection.vendor, connection.ops.quote_name)
    params: list[Any] = [channel, cap, timezone.now(), connection_id, True, channel, cap]
    for _ in range(RACE_RETRIES):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.rowcount == 1:
                return
        error = _why_not_inserted(connection_id, channel, cap, alias)
        if error is not None:
            raise error
        # Neither full, duplicate nor closed: a concurrent subscribe took the slot. Again.
    raise WsError(
        "subscribe_conflict", "Too many concurrent subscribes; try again", {"channel": channel}
    )


def _why_not_inserted(connection_id: str, channel: str, cap: int, alias: str) -> WsError | None:
    """The error path's one query: which condition of the INSERT failed."""
    rows = list(
        Subscription.objects.using(alias)
        .filter(session__connection_id=connection_id, session__connected=True)
        .values_list("channel", flat=True)
    )
    if channel in rows:
        return WsError(
            "already_subscribed", "This socket is already subscribed", {"channel": channel}
        )
    if len(rows) >= cap:
        return WsError(
            "too_many_subscriptions",
            f"A socket may follow at most {cap} channels; unsubscribe from one first",
            {"channel": channel, "limit": cap},
            status=429,
        )
    if not rows and not (
        WebSocketSession.objects.using(alias)
        .filter(connection_id=connection_id, connected=True)
        .exists()
    ):
        return WsError("unknown_connection", "This connection is not open", status=410)
    return None


def delete_subscription(session: Any, channel: str) -> None:
    """One DELETE; ``WsError`` ``not_subscribed`` if there was nothing to delete."""
    deleted, _ = Subscription.objects.filter(session_id=session.pk, channel=channel).delete()
    if not deleted:
        raise WsError("not_subscribed", "This socket is not subscribed", {"channel": channel})


def subscribed_channels(session: Any) -> list[str]:
    """The channels ``session`` follows, in the order it subscribed (by slot)."""
    return list(
        Subscription.objects.filter(session_id=session.pk)
        .order_by("created_at", "slot")
        .values_list("channel", flat=True)
    )
