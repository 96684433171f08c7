"""``handler(event, context)``: the router as the backend of an ``AWS_PROXY`` (Lambda) integration.

Set the function's handler to ``ws_routes.aws_lambda.handler`` and ``DJANGO_SETTINGS_MODULE`` in
its environment. Django is set up once per container, when Lambda imports this module (its init
phase). Each event becomes the request an ``HTTP_PROXY`` integration would have posted (the
``X-Ws-*`` headers; on ``$connect`` the handshake's headers and query string; the frame as the
body) and goes through Django's own handler: the project's middleware (sessions and auth: the
cookie path of ``$connect``), the mounted router's view, ``request_finished`` (old database
connections closed). The answer is ``{"statusCode": ..., "body": ...}``: a non-2xx refuses
``$connect``, a message's body is its reply.

There is no secret header: Lambda is invoked through its IAM-guarded API, not the internet. An
event whose ``apiId``/``stage`` is not one of the project's gateways is refused (403) instead:
``WS_ROUTES["LAMBDA_GATEWAYS"]``, else the ``ApiGateway`` rows (docs/lambda.md).
"""

from __future__ import annotations

import django
from django.apps import apps


def setup_django() -> None:
    """``django.setup()`` unless the app registry is ready (a no-op after the first call)."""
    if not apps.ready:
        django.setup()


setup_django()  # before importing what loads the models

from .lambda_handler import (  # noqa: E402
    gateway_allowed,
    handler,
    invoke,
    make_handler,
    mounted_path,
    reset_gateway_cache,
)

__all__ = [
    "gateway_allowed",
    "handler",
    "invoke",
    "make_handler",
    "mounted_path",
    "reset_gateway_cache",
    "setup_django",
]
