"""The connect and disconnect side of channels, called by the gateway view.

``?channel=`` at connect is the socket's first subscription: authorised before the
``on_connect`` hooks (a refusal writes nothing, 403), subscribed once the session is saved.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from asgiref.sync import async_to_sync

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


def run_connect_hooks_for(router: Router, request: Any, channel: str) -> None:
    """``channel.subscribe`` passes the gates ``?channel=`` passes on connect: the router's
    ``on_connect`` hooks run with ``request.websocket_session`` a copy whose ``channel_name``
    is the channel asked for; ``False`` refuses (403 ``channel_forbidden``), a ``WsError``
    keeps its own code. So a channel a hook refuses at connect cannot be joined after it."""
    session = request.websocket_session
    asking = copy.copy(session)
    asking.channel_name = channel
    request.websocket_session = asking
    try:
        for hook in router.connect_hooks:
            call = async_to_sync(hook) if inspect.iscoroutinefunction(hook) else hook
            if call(request) is False:
                raise WsError(
                    "channel_forbidden",
                    "You may not join this channel",
                    {"channel": channel},
                    status=403,
                )
    finally:
        request.websocket_session = session


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
