"""URLconf of the deployed-config end-to-end tests: a router of their own at ``/ws/``.

``room.join`` is pushed to the gateway as a model (``gateway_validation=True``), so a body the
model refuses never reaches Django.
"""

from __future__ import annotations

from typing import Any

from django.urls import include, path

from ws_routes.routing import Router

router = Router()


def echo(request: Any, body: Any) -> Any:
    return {"echo": body}


def join(request: Any, body: Any) -> Any:
    return {"joined": body["room"]}


router.add_route("echo", echo)
router.add_route(
    "room.join",
    join,
    schema={
        "type": "object",
        "required": ["room"],
        "properties": {"room": {"type": "string", "maxLength": 8}},
    },
    gateway_validation=True,
)

urlpatterns = [path("ws/", include(router.urls))]
