"""Views written as the reference package's documentation writes them, routed its way.

Each class is copied from (or is the smallest form of) an example in
django-aws-api-gateway-websockets 4.1.0's README and docs/*.rst, with only the import changed
to ``ws_routes.views``. tests/test_reference_compat_*.py use them as the compatibility contract.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from ws_routes import router
from ws_routes.compat.channel_rules import ChannelRule
from ws_routes.views import WebSocketView


class ExampleWebSocketView(WebSocketView):
    """README "Minimal example"."""

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        self.websocket_session.send_message({"type": "reply", "message": "Hello from Django"})
        return JsonResponse({"ok": True})


class OpenView(WebSocketView):
    """A reference view with the token check off (its tests' ``OpenChatWebSocketView``)."""

    USE_WS_TOKEN = False


class ChatWebSocketView(OpenView):
    """docs/permissions.rst "Handler whitelisting", plus the hooks a subclass overrides."""

    ALLOWED_HANDLERS = {"default", "send_message", "fetch_history"}
    permissions_required = ["auth.view_user"]

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"ok": True, "handler": "default"})

    def send_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"ok": True, "handler": "send_message"})

    def fetch_history(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"ok": True, "handler": "fetch_history"})

    def unlisted(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"leak": True})

    def _internal_helper(self) -> None:
        return None


class HookView(OpenView):
    """Overrides every hook the issue lists: none of them may become a route."""

    calls: list[str] = []

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self.calls.append(f"setup:{self.kwargs.get('route')}")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("dispatch")
        return super().dispatch(request, *args, **kwargs)

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("connect")
        return super().connect(request, *args, **kwargs)

    def disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("disconnect")
        return super().disconnect(request, *args, **kwargs)

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:
        self.calls.append(f"can_join_channel:{channel_name}")
        return channel_name != "forbidden" and super().can_join_channel(request, channel_name)

    def get_channel_permission(self, channel_name: str) -> ChannelRule | None:
        self.calls.append("get_channel_permission")
        return super().get_channel_permission(channel_name)

    def has_any_permission(self, request: HttpRequest) -> bool:
        self.calls.append("has_any_permission")
        return True

    def has_all_permission(self, request: HttpRequest) -> bool:
        self.calls.append("has_all_permission")
        return True

    def _additional_connection_checks(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> tuple[bool, str]:
        self.calls.append("_additional_connection_checks")
        if request.GET.get("channel") == "needs-cert":
            return False, "Certificate required"
        return True, ""

    def hello(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.calls.append(f"hello:{self.body.get('n')}")
        return None  # the reference answers {}


class AllPermissionsView(OpenView):
    """docs/permissions.rst "Require all permissions"."""

    all_permissions_required = ["auth.view_user", "auth.change_user"]

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"ok": True})


class RoomView(OpenView):
    """docs/example.rst change_channel and docs/channel_permissions.rst rules."""

    ALLOW_UNLISTED_CHANNELS = False
    channel_permissions = {
        "lobby": ChannelRule.allow_all(),
        "staff": ChannelRule.staff_only(),
        "admins": ChannelRule.superuser_only(),
        "editors": ChannelRule.permissions(
            ["auth.view_user", "auth.change_user"], ["auth.add_user"]
        ),
    }

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:
        if channel_name.startswith("notifications_user_"):
            user = request.user
            return user.is_authenticated and channel_name == f"notifications_user_{user.pk}"
        return super().can_join_channel(request, channel_name)

    def change_channel(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        response = super().change_channel(request, *args, **kwargs)
        if response is not None:
            return response
        return JsonResponse(
            {"ok": True, "type": "channel_changed", "channel": self.websocket_session.channel_name}
        )

    def whoami(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        gateway = self.api_gateway
        return JsonResponse(
            {
                "user": request.user.get_username(),
                "channel": self.websocket_session.channel_name,
                "gateway": gateway.api_name if gateway else None,
                "route": self.kwargs.get("route"),
            }
        )


class BrokenView(OpenView):
    EXCEPTION_MAIL_INTERVAL = 3600

    def boom(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("handler bug")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("ws/", include(router.urls)),
    path("example/<slug:route>", ExampleWebSocketView.as_view()),
    path("chat/<slug:route>", ChatWebSocketView.as_view()),
    path("hooks/<slug:route>", HookView.as_view()),
    path("allperms/<slug:route>", AllPermissionsView.as_view()),
    path("rooms/<slug:route>", RoomView.as_view()),
    path("broken/<slug:route>", BrokenView.as_view()),
]
