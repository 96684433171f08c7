"""Closing sockets from code: unbind them in the database now, ``DELETE`` them after commit.

The one path that ends a login's sockets (``login_signals.unbind_user_sockets``) and one
socket (``WebSocketSession.disconnect()``, issue 26 item 6) share: the socket becomes anonymous
(``user=None``, no login binding) and leaves its ``user:{id}`` channel in the database at once,
so that holds if the management API is down; the ``DELETE @connections/{id}``
(``sending.disconnect_sessions``, which marks the session disconnected) runs after the
transaction commits and is best effort: a failure is logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import transaction

logger = logging.getLogger("ws_routes")


def close_connections(sessions: Any, why: str, user_ids: Iterable[Any]) -> int:
    """Unbind ``sessions`` (a ``WebSocketSession`` queryset of ``user_ids``' sockets) now and
    close them after the commit; how many were unbound. (Given the queryset: ``models`` calls
    this, so it imports no model.)"""
    using = sessions.db
    connection_ids = list(sessions.values_list("connection_id", flat=True))
    if not connection_ids:
        return 0
    sessions = sessions.model.objects.using(using).filter(connection_id__in=connection_ids)
    unbound = int(sessions.update(user=None, login_binding=""))
    apps.get_model("ws_routes", "Subscription").objects.using(using).filter(
        session__connection_id__in=connection_ids,
        channel__in=[f"user:{user_id}" for user_id in user_ids if user_id is not None],
    ).delete()

    def close() -> None:
        from .sending import disconnect_sessions

        try:
            disconnect_sessions(sessions.all())
        except Exception:
            logger.exception("Could not disconnect %s", why)

    transaction.on_commit(close, using=using)
    return unbound
