"""Sockets follow their login: a logout or a password change closes the user's open sockets.

Connected in ``WsRoutesConfig.ready``. A message already stops acting as the user once the
password changed (``security.bound_user``); closing the sockets through the management API also
ends them for the client, and a logout (which does not change the hash) is covered only here.

Example: ``disconnect_user_sockets(user)`` after banning someone.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
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


def _after_commit(user: Any) -> None:
    transaction.on_commit(lambda: disconnect_user_sockets(user))


def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: the user's sockets close with the login."""
    if user is not None and getattr(user, "pk", None) is not None:
        _after_commit(user)


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A saved user whose password was just set (``set_password`` then ``save``): unbind.

    ``AbstractBaseUser`` keeps the new raw password in ``_password`` until ``save()`` has run
    (that is how it calls ``password_validation.password_changed``), so this sees exactly the
    saves that change the password. Unused connect tokens of the user die with the old login.
    """
    if created or getattr(instance, "_password", None) is None:
        return
    ConnectToken.objects.filter(user=instance).delete()
    _after_commit(instance)


def connect_login_signals() -> None:
    """Connect the receivers (idempotent: ``dispatch_uid``)."""
    user_logged_out.connect(on_user_logged_out, dispatch_uid="ws_routes.logout")
    post_save.connect(
        on_user_saved, sender=get_user_model(), dispatch_uid="ws_routes.password_change"
    )
