"""The reference's template mixins: the gateway route and channel name in a page's context.

Example::

    class ChatPage(AddWebSocketRouteToContextMixin, TemplateView):
        template_name = "chat.html"
        websocket_route_key = "chat"
        channel_name = "lobby"

The template gets ``api_gateway_route`` (a ``GatewayRoute`` with its ``api_gateway``, or
``None``) and ``channel_name``, as with the reference's ``ApiGatewayAdditionalRoute``.
"""

from __future__ import annotations

import sys
from typing import Any

from django.http import HttpRequest
from django.urls import resolve

from ..models import GatewayRoute


class AddWebSocketRouteToContextMixin:
    """Adds ``api_gateway_route`` and ``channel_name`` to the template context."""

    websocket_route_key = "default"  # override unless the page uses the default route
    channel_name = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        context["api_gateway_route"] = (
            GatewayRoute.objects.filter(route_key=self.websocket_route_key)
            .select_related("api_gateway")
            .order_by("pk")
            .first()
        )
        context["channel_name"] = self.channel_name
        return context


class AppChannelWebSocketMixin(AddWebSocketRouteToContextMixin):
    """Route key and channel named after the app of the view (``app_channel_override`` wins)."""

    request: HttpRequest | None = None
    app_channel_override: str | None = None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        assert self.request is not None, "AppChannelWebSocketMixin needs a view with a request"
        module = resolve(self.request.path_info).func.__module__
        app_name = sys.modules[module].__package__ or ""
        self.channel_name = self.app_channel_override or app_name
        self.websocket_route_key = app_name
        return super().get_context_data(**kwargs)
