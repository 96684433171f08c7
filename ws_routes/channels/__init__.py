"""Channels: many per socket, authorised on join, with presence, history and resume.

Example (``ws.py``)::

    from ws_routes import Channel, Router
    from ws_routes.channels import enable_channel_routes

    router = Router()
    enable_channel_routes(router)

    @router.channel("room:{name}", presence=True, history=100)
    def may_join_room(request, name):
        return request.user.is_authenticated

    Channel("room:kitchen").send({"type": "chat.message", "text": "hi"})

See docs/channels.md.
"""

from __future__ import annotations

from ..channel_rules import ChannelRule, user_channel
from .authorise import authorise_join
from .broadcast import Channel, send_to_user
from .routes import enable_channel_routes

__all__ = [
    "Channel",
    "ChannelRule",
    "authorise_join",
    "enable_channel_routes",
    "send_to_user",
    "user_channel",
]
