"""Sending to a channel (``Channel(name).send``) and to a user's every socket."""

from __future__ import annotations

from typing import Any

from ..channel_rules import find_channel_rule
from ..models import WebSocketSession, WebSocketSessionQuerySet
from . import history
from .payloads import channel_push, encode_data
from .presence import members


class Channel:
    """A channel by name: its subscribers, its members, and sending to them.

    Example::

        Channel("room:kitchen").send({"type": "chat.message", "text": "hi"})
        Channel("room:kitchen").members()   # [{"username": "alice"}, ...]

    A channel whose rule keeps history numbers and stores each message first; the push then
    carries ``channel`` and ``seq``. Keyword arguments go to the queryset's ``send()``.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"A channel name is a non-empty string, not {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"

    def sessions(self) -> WebSocketSessionQuerySet:
        """Connected sessions subscribed to this channel."""
        return WebSocketSession.objects.in_channel(self.name).filter(connected=True)

    def members(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Who is here: each logged-in user once, as ``PRESENCE_USER`` describes them."""
        return members(self.name, limit)

    def send(self, data: Any, **kwargs: Any) -> Any:
        """Push ``data`` (a dict) to every subscriber; returns the ``SendResult``."""
        push = channel_push(self.name, data)
        rule = find_channel_rule(self.name)
        if rule is not None and rule.history:
            push["seq"] = history.append(rule, self.name, encode_data(data))
        return WebSocketSession.objects.in_channel(self.name).send(push, **kwargs)


def send_to_user(user: Any, data: Any, **kwargs: Any) -> Any:
    """Push ``data`` to every open socket of ``user`` (any channel, any tab).

    Example: ``send_to_user(request.user, {"type": "notice", "text": "Saved"})``.
    """
    pk = getattr(user, "pk", None)
    if pk is None:
        raise ValueError("send_to_user needs a saved user (anonymous users have no sockets)")
    return WebSocketSession.objects.filter(user_id=pk).send(data, **kwargs)
