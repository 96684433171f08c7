"""Where ``WebSocketView.change_channel`` moves a connection: off its channel, onto the new one.

The reference's session has one channel; ours follows many (``Subscription`` rows). A change of
channel is therefore "unsubscribe the old, subscribe the new", and ``channel_name`` (what
``channel_members()`` and the reference's code read) follows, so both views of the socket agree.
"""

from __future__ import annotations

from django.utils import timezone

from ..errors import WsError
from ..models import WebSocketSession


def move_to_channel(session: WebSocketSession, channel_name: str) -> None:
    """Move ``session`` from its ``channel_name`` to ``channel_name`` (rules already checked).

    The new subscription comes first, so a refusal (a closed socket: ``WsError`` 410, the
    subscription cap) changes nothing; then the old one goes (presence leave and join are pushed
    on presence channels), and only the ``channel_name`` column is written, so a concurrent
    ``$disconnect`` is never undone by this request's stale copy (``updated_on`` is refreshed
    with it). Each step is one statement of its own (no wrapping transaction: on SQLite a read
    that later writes fails "locked").
    Example: ``move_to_channel(session, "lobby")``.
    """
    old = session.channel_name
    if channel_name and channel_name != old:
        try:
            session.subscribe(channel_name)
        except WsError as error:
            if error.code != "already_subscribed":
                raise
    if old and old != channel_name:
        try:
            session.unsubscribe(old)
        except WsError as error:
            if error.code != "not_subscribed":
                raise
    now = timezone.now()  # update() skips auto_now: set updated_on as the reference's save does
    WebSocketSession.objects.filter(pk=session.pk).update(channel_name=channel_name, updated_on=now)
    session.channel_name = channel_name
    session.updated_on = now
