"""One WebSocket view of the reference package, its token view, and a CSRF cookie page."""

import os

from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie
from django_aws_api_gateway_websockets import models as reference_models
from django_aws_api_gateway_websockets.views import WebSocketTokenView, WebSocketView

_build_client = reference_models.get_boto3_client


def _local_management_api(service="apigatewayv2", **kwargs):
    """The one change to the reference: its ``@connections`` URL is AWS's, hard-coded.

    ``WebSocketSession.send_message`` builds ``https://{api_id}.execute-api.{region}
    .amazonaws.com/{stage}``; the local gateway serves the same path on its own address.
    """
    if service == "apigatewaymanagementapi" and "endpoint_url" in kwargs:
        stage = kwargs["endpoint_url"].rsplit("/", 1)[1]
        kwargs["endpoint_url"] = f"{os.environ['REFERENCE_E2E_GATEWAY']}/{stage}"
    return _build_client(service, **kwargs)


reference_models.get_boto3_client = _local_management_api


class EchoView(WebSocketView):
    """A chat-like view: ``{"action": "echo", "text": ...}`` is sent back through @connections."""

    ALLOWED_HANDLERS = {"echo"}

    def echo(self, request, *args, **kwargs):
        user = request.user.get_username() if request.user.is_authenticated else ""
        self.websocket_session.send_message({"echo": self.body.get("text"), "user": user})
        return JsonResponse({})


@ensure_csrf_cookie
def csrf(request):
    return JsonResponse({"token": get_token(request)})


urlpatterns = [
    path("csrf/", csrf),
    path("ws/token/", WebSocketTokenView.as_view()),
    path("ws/<slug:route>", EchoView.as_view()),
]
