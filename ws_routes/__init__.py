"""django-ws-routes: plain-function handlers for an AWS API Gateway WebSocket API.

Example::

    from ws_routes import ws_route

    @ws_route("chat.send", schema={"type": "object", "required": ["text"]})
    def chat_send(request, body):
        request.websocket_session.channel_members().send({"text": body["text"]})
        return {"ok": True}
"""

from typing import Any

from .errors import RouteConfigurationError, WsError
from .routing import Route, Router, router, ws_route

__all__ = [
    "Channel",
    "Route",
    "RouteConfigurationError",
    "Router",
    "WsError",
    "router",
    "send_to_user",
    "ws_route",
]


def __getattr__(name: str) -> Any:
    """``Channel`` and ``send_to_user`` load the models, so they are imported on first use."""
    if name in ("Channel", "send_to_user"):
        from . import channels

        return getattr(channels, name)
    raise AttributeError(f"module 'ws_routes' has no attribute {name!r}")


__version__ = "0.1.0"
