"""Sockets follow their login: a logout, a password change or a deactivation unbinds the
user's open sockets at once, then closes them.

Connected in ``WsRoutesConfig.ready``. Unbinding is one UPDATE in the caller's transaction
(``user`` NULL, ``login_binding`` empty) plus the removal of their ``user:{id}``
subscriptions: from then on a message on such a socket is anonymous and no delivery to the
user (``send_to_user``, ``user:{id}``, channel members, presence) treats it as the user,
whatever the management API answers. The ``DELETE @connections`` that also ends them for the
client runs after the commit, and may fail without undoing the unbinding.

Example: ``unbind_user_sockets(user)`` after banning someone with a bulk ``update()``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save

from .models import ConnectToken, WebSocketSession

logger = logging.getLogger("ws_routes")


def disconnect_user_sockets(user: Any) -> int:
    """Close every open socket of ``user`` (``DELETE @connections/{id}``); how many closed.

    A failure to reach the management API is logged, never raised: a logout must not fail
    because AWS is unreachable (the binding check still makes the sockets anonymous after a
    password change).
    """
    from .sending import disconnect_sessions

    try:
        return disconnect_sessions(WebSocketSession.objects.filter(user=user, connected=True))
    except Exception:
        logger.exception("Could not disconnect the sockets of user %s", user.pk)
        return 0


def unbind_user_sockets(user: Any) -> int:
    """Make every open socket of ``user`` anonymous now, then close them after the commit.

    Returns how many were unbound. The unbinding is in the database (one UPDATE, and one
    DELETE of their ``user:{id}`` subscriptions), so it holds if the management API is down;
    the closing is best effort (:func:`disconnect_user_sockets`' logging).
    """
    from .session_close import close_connections

    open_sockets = WebSocketSession.objects.filter(user_id=user.pk, connected=True)
    return close_connections(open_sockets, f"the sockets of user {user.pk}", [user.pk])


def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: the user's unused connect tokens and sockets end with the login."""
    if user is not None and getattr(user, "pk", None) is not None:
        ConnectToken.objects.filter(user_id=user.pk).delete()
        unbind_user_sockets(user)


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A saved user whose password was just set (``set_password`` then ``save``), or who is
    inactive: unbind.

    ``AbstractBaseUser`` keeps the new raw password in ``_password`` until ``save()`` has run
    (that is how it calls ``password_validation.password_changed``), so this sees exactly the
    saves that change the password. Unused connect tokens of the user die with the old login.
    An inactive user's save costs one indexed SELECT when no socket is open.
    """
    if created:
        return
    password_changed = getattr(instance, "_password", None) is not None
    if not password_changed and getattr(instance, "is_active", True):
        return
    ConnectToken.objects.filter(user=instance).delete()
    unbind_user_sockets(instance)


def connect_login_signals() -> None:
    """Connect the receivers (idempotent: ``dispatch_uid``)."""
    user_logged_out.connect(on_user_logged_out, dispatch_uid="ws_routes.logout")
    post_save.connect(
        on_user_saved, sender=get_user_model(), dispatch_uid="ws_routes.password_change"
    )
