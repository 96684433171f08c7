"""``WsRequest``: the ``HttpRequest`` a handler receives, typed for editors and type checkers.

The view sets ``request.websocket_session`` (the connection's row) and, for the reference
package's ``WebSocketView``, ``request.ws_message`` (the message as sent). Annotate a handler with
it to have them typed::

    from ws_routes.requests import WsRequest

    @ws_route("chat.send")
    def chat_send(request: WsRequest, body: dict) -> dict:
        return {"channel": request.websocket_session.channel_name}
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, cast

from django.http import HttpRequest

from .models import WebSocketSession


class WsRequest(HttpRequest):
    """An ``HttpRequest`` with the attributes the gateway view sets (never instantiated)."""

    websocket_session: WebSocketSession
    ws_message: Any


def ws_request(request: HttpRequest) -> WsRequest:
    """``request`` seen as the ``WsRequest`` it is about to become (the view sets the fields)."""
    return cast(WsRequest, request)


#: The user a message acts as (its primary key) while its handler runs, else None: what
#: per-user budgets below the view (new history channels, ``channels.history``) count against.
acting_user_pk: ContextVar[Any] = ContextVar("ws_routes_acting_user_pk", default=None)
