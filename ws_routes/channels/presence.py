"""Presence: joins and leaves pushed to a channel, and who is there.

A push is ``{"type": "presence", "channel", "event": "join" | "leave", "user": {...}}``, one per
socket (a user with two tabs joins twice). What ``user`` holds is ``WS_ROUTES["PRESENCE_USER"]``,
a dotted path to ``describe(user) -> dict``; the default shows the username only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from ..channel_rules import find_channel_rule
from ..conf import ws_setting
from ..models import Subscription, WebSocketSession

logger = logging.getLogger("ws_routes")


def describe_username(user: Any) -> dict[str, Any]:
    """The default presence description: ``{"username": ...}`` (``None`` when anonymous)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {"username": None}
    return {"username": user.get_username()}


def describe(user: Any) -> dict[str, Any]:
    """``user`` as presence pushes and ``members()`` show it (the ``PRESENCE_USER`` hook)."""
    path = ws_setting("PRESENCE_USER")
    hook = import_string(path) if isinstance(path, str) else (path or describe_username)
    return dict(hook(user))


def presence_push(channel: str, event: str, user: Any) -> dict[str, Any]:
    return {"type": "presence", "channel": channel, "event": event, "user": describe(user)}


def announce(channel: str, event: str, user: Any, *, exclude: str | None = None) -> None:
    """Push a join or leave to ``channel``'s members (``exclude``: a connection id).

    A failure to push is logged, never raised: a join or leave has already happened.
    """
    recipients = WebSocketSession.objects.in_channel(channel)
    if exclude is not None:
        recipients = recipients.exclude(connection_id=exclude)
    try:
        recipients.send(presence_push(channel, event, user), on_commit=True)
    except Exception:
        logger.exception("Presence %s on %r could not be pushed", event, channel)


def is_presence_channel(channel: str) -> bool:
    rule = find_channel_rule(channel)
    return rule is not None and rule.presence


def leave_all(subscriptions: Iterable[Subscription]) -> int:
    """Announce a leave for each of these (deleted) subscriptions on a presence channel."""
    announced = 0
    for subscription in subscriptions:
        if is_presence_channel(subscription.channel):
            session = subscription.session
            announce(subscription.channel, "leave", session.user, exclude=session.connection_id)
            announced += 1
    return announced


def announce_stale_leaves(sessions: Any) -> int:
    """Before a sweep deletes ``sessions`` (a queryset): announce their presence leaves.

    Sessions that closed through ``$disconnect`` have no subscriptions left (announced then);
    these are the ones whose ``$disconnect`` never came or that a push found gone.
    """
    subscriptions = Subscription.objects.filter(session__in=sessions).select_related(
        "session__user"
    )
    return leave_all(s for s in subscriptions.iterator() if is_presence_channel(s.channel))


def members(channel: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Who is in ``channel``: each logged-in user once (by username), at most ``limit``."""
    users = (
        WebSocketSession.objects.in_channel(channel)
        .filter(connected=True, user__isnull=False)
        .values_list("user", flat=True)
        .distinct()
    )
    model = get_user_model()
    found = model._default_manager.filter(pk__in=users).order_by(model.USERNAME_FIELD)[:limit]
    return [describe(user) for user in found]
