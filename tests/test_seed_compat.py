"""The seed's class-based WebSocketView and its management command, on the same core."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.http import JsonResponse
from django.test import RequestFactory
from django.utils import timezone

from ws_routes.models import ConnectToken, WebSocketSession
from ws_routes.views import WebSocketView

pytestmark = pytest.mark.django_db


class ChatView(WebSocketView):
    route_selection_key = "handler"
    USE_WS_TOKEN = False  # these tests connect without a token (tokens: test_reference_compat*)

    def send_text(self, request, *args, **kwargs):
        self._debug("sending")
        return JsonResponse({"got": self.body, "conn": self.websocket_session.connection_id})

    def _private(self, request):
        return JsonResponse({"leak": True})

    def default(self, request, *args, **kwargs):
        return JsonResponse({"default": self.body.get("handler")})


class NoDefaultView(WebSocketView):
    USE_WS_TOKEN = False

    def ping(self, request):
        return None


def call(view, gateway, event, connection_id, body=b""):
    factory = RequestFactory()
    headers = gateway.headers(event, connection_id, "$default")
    request = factory.post("/ws/", body, content_type="application/json", **headers)
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    return view(request, route="default")


def test_public_methods_become_routes_never_private_or_base():
    assert ChatView.route_names() == ["send_text"]
    router = ChatView.build_router()
    assert set(router.routes) == {"send_text"}
    assert router.default_route is not None
    assert router.route_selection_key == "handler"


def test_seed_view_dispatches_on_same_core(gateway):
    view = ChatView.as_view()
    assert call(view, gateway, "CONNECT", "Seed1=").status_code == 200
    response = call(view, gateway, "MESSAGE", "Seed1=", b'{"handler": "send_text", "t": 1}')
    assert json.loads(response.content) == {
        "got": {"handler": "send_text", "t": 1},
        "conn": "Seed1=",
    }
    for name in ("_private", "dispatch", "as_view", "route_names", "build_router"):
        body = json.dumps({"handler": name}).encode()
        response = call(view, gateway, "MESSAGE", "Seed1=", body)
        assert json.loads(response.content) == {"default": name}
    assert call(view, gateway, "DISCONNECT", "Seed1=").status_code == 200
    assert WebSocketSession.objects.get().connected is False


def test_seed_view_without_default_answers_unknown_route(gateway):
    view = NoDefaultView.as_view()
    call(view, gateway, "CONNECT", "Seed2=")
    response = call(view, gateway, "MESSAGE", "Seed2=", b'{"action": "nope"}')
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "unknown_route"
    assert call(view, gateway, "MESSAGE", "Seed2=", b'{"action": "ping"}').status_code == 200


def test_seed_view_checks_the_secret(gateway):
    factory = RequestFactory()
    request = factory.post("/ws/", b"{}", content_type="application/json")
    assert ChatView.as_view()(request).status_code == 403


def test_debug_log_collects_when_debug():
    view = ChatView(debug=True)
    view._debug("x" * 1000)
    assert view.debug_log == ["x" * 500]
    quiet = ChatView()
    quiet._debug("y")
    assert quiet.debug_log == []


def test_send_message_aliases_exist():
    assert WebSocketSession.send_message
    assert WebSocketSession.objects.none().send_message


def test_clear_websocket_sessions(alice):
    now = timezone.now()
    WebSocketSession.objects.create(connection_id="open=", connected=True)
    WebSocketSession.objects.create(connection_id="closed=", connected=False)
    WebSocketSession.objects.create(
        connection_id="ancient=", connected=True, connected_at=now - timedelta(hours=2, seconds=1)
    )
    ConnectToken.mint(alice)
    ConnectToken.objects.create(token_hash="e" * 64, user=alice, expires_at=now)
    out = StringIO()
    call_command("clearWebSocketSessions", "--dry-run", stdout=out)
    assert "Would delete 2 sessions and 1 expired tokens" in out.getvalue()
    assert WebSocketSession.objects.count() == 3
    call_command("clearWebSocketSessions", stdout=out)
    assert list(WebSocketSession.objects.values_list("connection_id", flat=True)) == ["open="]
    assert ConnectToken.objects.count() == 1
