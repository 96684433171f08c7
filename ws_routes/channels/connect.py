"""The connect and disconnect side of channels, called by the gateway view.

``?channel=`` at connect is the socket's first subscription: authorised before the
``on_connect`` hooks (a refusal writes nothing, 403), subscribed once the session is saved.
"""

from __future__ import annotations

from typing import Any

from ..conf import ws_setting
from ..errors import WsError
from ..routing import Router
from .authorise import authorise_join
from .membership import join, leave_everything


def authorise_connect_channel(router: Router, request: Any, channel: str) -> None:
    """Refuse (403) a ``?channel=`` the user may not join; the configured default is trusted."""
    if not channel:
        return
    asked = request.GET.get(ws_setting("CHANNEL_QUERY_PARAM"))
    if not asked and channel == ws_setting("DEFAULT_CHANNEL"):
        return
    try:
        authorise_join(router, request, channel)
    except WsError as error:
        # An authoriser's WsError keeps a status it chose (401: log in); else 403.
        if "status" not in vars(error) or error.status == 400:
            raise WsError(error.code, error.message, error.details, status=403) from None
        raise


def subscribe_connected(session: Any) -> None:
    """After the session row is saved: subscribe it to its ``channel_name`` (if any)."""
    if session.channel_name:
        try:
            join(session, session.channel_name, announce_to_self=False)
        except WsError as error:
            if error.code != "already_subscribed":  # a retried CONNECT of the same id
                raise


def unsubscribe_disconnected(connection_id: str) -> int:
    """After ``$disconnect`` (or a sweep): drop the socket's subscriptions, announce leaves."""
    return leave_everything(connection_id)
