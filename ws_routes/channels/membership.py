"""Joining and leaving channels as a socket: the subscription row, then the presence push.

No authorisation here (server code decides what a socket follows); the ``channel.*`` routes and
the connect path authorise first (``authorise.py``).
"""

from __future__ import annotations

from typing import Any

from ..channel_rules import find_channel_rule
from ..models import Subscription
from .authorise import checked_channel_name
from .presence import announce, leave_all
from .subscriptions import delete_subscription, insert_subscription


def join(session: Any, name: str, *, announce_to_self: bool = True) -> None:
    """Subscribe ``session`` to ``name``; on a presence channel, push the join afterwards.

    The join is pushed once the row is visible (after the INSERT, or at commit), so a
    ``members()`` call made on receiving it lists the newcomer. On connect the newcomer is
    left out (``announce_to_self=False``): API Gateway refuses pushes before ``$connect``
    answered, and a 410 would mark the new session gone (AWS: "Use @connections commands in
    your backend service", PostToConnection's GoneException; docs/aws-fidelity.md).
    """
    name = checked_channel_name(name)
    insert_subscription(session.connection_id, name)
    rule = find_channel_rule(name)
    if rule is not None and rule.presence:
        exclude = None if announce_to_self else session.connection_id
        announce(name, "join", session.user, exclude=exclude)


def leave(session: Any, name: str) -> None:
    """Unsubscribe ``session`` from ``name``; ``WsError`` ``not_subscribed`` if it was not."""
    name = checked_channel_name(name)
    delete_subscription(session, name)
    rule = find_channel_rule(name)
    if rule is not None and rule.presence:
        announce(name, "leave", session.user)


def leave_everything(connection_id: str) -> int:
    """Drop every subscription of a closed socket, announcing leaves; returns how many."""
    subscriptions = list(
        Subscription.objects.filter(session__connection_id=connection_id).select_related(
            "session__user"
        )
    )
    if not subscriptions:
        return 0
    Subscription.objects.filter(pk__in=[s.pk for s in subscriptions]).delete()
    leave_all(subscriptions)
    return len(subscriptions)
