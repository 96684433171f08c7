"""The opt-in built-in routes ``channel.subscribe``, ``channel.unsubscribe``,
``channel.members`` and ``channel.history``, each authorised by the router's channel rules.

Enable them with one line next to your rules: ``enable_channel_routes(router)``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ..conf import ws_setting
from ..errors import WsError
from ..routing import Router
from . import history
from .authorise import authorise_join, checked_channel_name
from .connect import run_connect_hooks_for
from .membership import join, leave
from .presence import members

_CHANNEL = {"type": "string", "minLength": 1, "maxLength": 128}
SUBSCRIBE_SCHEMA = {
    "type": "object",
    "required": ["channel"],
    "properties": {"channel": _CHANNEL, "since": {"type": "integer"}},
    "additionalProperties": False,
}
CHANNEL_SCHEMA = {
    "type": "object",
    "required": ["channel"],
    "properties": {"channel": _CHANNEL},
    "additionalProperties": False,
}
HISTORY_SCHEMA = {**SUBSCRIBE_SCHEMA, "required": ["channel", "since"]}


def _is_subscribed(request: HttpRequest, name: str) -> bool:
    session = request.websocket_session  # type: ignore[attr-defined]
    return bool(session.subscriptions.filter(channel=name).exists())


def enable_channel_routes(router: Router, prefix: str = "channel.") -> None:
    """Register the ``channel.*`` routes on ``router`` (before its ``urls`` are read).

    Example (``ws.py``)::

        router = Router()
        enable_channel_routes(router)
    """

    def subscribe(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
        """Follow a channel; with ``since``, also what was missed (history channels)."""
        since = body.get("since")
        if since is not None:
            history.check_since(since)  # bad input is refused before anything is written
        rule = authorise_join(router, request, body["channel"])
        name = body["channel"]
        run_connect_hooks_for(router, request, name)
        if since is not None and (rule is None or not rule.history):
            raise WsError("no_history", "This channel keeps no history", {"channel": name})
        if since is not None and since > (newest := history.last_seq(name)):
            raise WsError(
                "invalid_since",
                "since is ahead of this channel's last message",
                {"since": since, "seq": newest},
            )
        join(request.websocket_session, name)  # type: ignore[attr-defined]
        reply: dict[str, Any] = {"channel": name, "subscribed": True}
        if rule is not None and rule.history:
            if since is None:
                reply["seq"] = history.last_seq(name)
            else:
                reply.update(history.replay(rule, name, since, ws_setting("HISTORY_REPLAY_BYTES")))
        return reply

    def unsubscribe(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
        leave(request.websocket_session, body["channel"])  # type: ignore[attr-defined]
        return {"channel": body["channel"], "subscribed": False}

    def channel_members(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
        """Who is in a presence channel: asked by a socket that may join it."""
        name = checked_channel_name(body["channel"])
        rule = authorise_join(router, request, name)
        if rule is None or not rule.presence:
            raise WsError("no_presence", "This channel does not track presence", {"channel": name})
        return {"channel": name, "members": members(name)}

    def channel_history(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
        """More missed messages (after a reply that said ``more: true``); subscribers only."""
        history.check_since(body["since"])
        name = checked_channel_name(body["channel"])
        rule = authorise_join(router, request, name)
        if rule is None or not rule.history:
            raise WsError("no_history", "This channel keeps no history", {"channel": name})
        if not _is_subscribed(request, name):
            raise WsError("not_subscribed", "Subscribe to read history", {"channel": name})
        budget = ws_setting("HISTORY_REPLAY_BYTES")
        return {"channel": name, **history.replay(rule, name, body["since"], budget)}

    router.add_route(prefix + "subscribe", subscribe, schema=SUBSCRIBE_SCHEMA)
    router.add_route(prefix + "unsubscribe", unsubscribe, schema=CHANNEL_SCHEMA)
    router.add_route(prefix + "members", channel_members, schema=CHANNEL_SCHEMA)
    router.add_route(prefix + "history", channel_history, schema=HISTORY_SCHEMA)
