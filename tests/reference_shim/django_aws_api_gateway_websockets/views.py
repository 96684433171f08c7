"""``WebSocketView`` and the token view, plus the header mapping a re-synced gateway does."""

from typing import Any

from django.http import HttpRequest

from ws_routes.conf import ws_setting
from ws_routes.views import WebSocketView as _WebSocketView
from ws_routes.views import connect_token_view

from .shim import missing_names

_EVENTS = {"connect": "CONNECT", "disconnect": "DISCONNECT"}


def as_the_synced_gateway_sends_it(request: HttpRequest, route: Any) -> None:
    """Add the X-Ws-* headers API Gateway sends once ``syncroutes`` has run."""
    meta = request.META
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    secrets = ws_setting("GATEWAY_SECRETS") or [""]
    mapped = {
        "HTTP_X_WS_EVENT": _EVENTS.get(route, "MESSAGE"),
        "HTTP_X_WS_CONNECTION_ID": meta.get("HTTP_CONNECTIONID", ""),
        "HTTP_X_WS_API_ID": meta.get("HTTP_X_AMZN_APIGATEWAY_API_ID", ""),
        "HTTP_X_WS_STAGE": "production",
        "HTTP_X_WS_SOURCE_IP": forwarded.split(",")[0].strip(),
        "HTTP_X_WS_REQUEST_ID": meta.get("HTTP_X_AMZN_TRACE_ID", "")[:128],
        "HTTP_X_WS_SECRET": meta.get("HTTP_X_WS_GATEWAY_SECRET", secrets[0]),
    }
    for key, value in mapped.items():
        meta.setdefault(key, value)


class WebSocketView(_WebSocketView):
    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)

        def reference_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            as_the_synced_gateway_sends_it(request, kwargs.get("route"))
            return view(request, *args, **kwargs)

        reference_view.ws_router = view.ws_router  # type: ignore[attr-defined]
        return reference_view


class WebSocketTokenView:
    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return connect_token_view


__getattr__ = missing_names(__name__)
