"""django-ws-routes: plain-function handlers for an AWS API Gateway WebSocket API.

Example::

    from ws_routes import ws_route

    @ws_route("chat.send", schema={"type": "object", "required": ["text"]})
    def chat_send(request, body):
        request.websocket_session.channel_members().send({"text": body["text"]})
        return {"ok": True}
"""

from .errors import RouteConfigurationError, WsError
from .routing import Route, Router, router, ws_route

__all__ = ["Route", "RouteConfigurationError", "Router", "WsError", "router", "ws_route"]
__version__ = "0.1.0"
