"""Where ``WebSocketView.change_channel`` moves a connection: the one place to switch over.

Today a session has one channel, ``WebSocketSession.channel_name``. When sessions get many
subscriptions (``session.subscribe(name)`` / ``session.unsubscribe(name)``), this function
becomes "unsubscribe from the old channel, subscribe to the new one", and nothing else changes.
"""

from __future__ import annotations

from ..models import WebSocketSession


def move_to_channel(session: WebSocketSession, channel_name: str) -> None:
    """Put ``session`` on ``channel_name`` in one UPDATE of that column only.

    Writing only the column means a concurrent ``$disconnect`` (``connected=False``) is never
    undone by this request's stale copy. Example: ``move_to_channel(session, "lobby")``.
    """
    WebSocketSession.objects.filter(pk=session.pk).update(channel_name=channel_name)
    session.channel_name = channel_name
