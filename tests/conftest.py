"""Shared fixtures: a gateway that posts the DESIGN.md header contract to the mounted router."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def empty_caches():
    """Each test starts with empty Django caches: the permission cache is keyed by user pk, and
    a rolled-back test's alice has the next test's alice's pk (a stale set refused her)."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()
    yield


def new_connection_id() -> str:
    """Shaped like API Gateway's ids (base64, ending in '=')."""
    return f"Conn{next(_ids):011d}="


class FakeGateway:
    """Posts events to ``/ws/`` exactly as API Gateway's integration would."""

    def __init__(self, client: Client, path: str = "/ws/") -> None:
        self.client = client
        self.path = path

    def headers(self, event: str, connection_id: str, route: str, **extra: str) -> dict[str, str]:
        headers = {
            "HTTP_X_WS_SECRET": settings.GATEWAY_SECRET,
            "HTTP_X_WS_CONNECTION_ID": connection_id,
            "HTTP_X_WS_EVENT": event,
            "HTTP_X_WS_ROUTE": route,
            "HTTP_X_WS_SOURCE_IP": "203.0.113.7",
            "HTTP_X_WS_REQUEST_ID": "req-1",
            "HTTP_X_WS_API_ID": "abc123",
            "HTTP_X_WS_STAGE": "production",
        }
        headers.update(extra)
        return headers

    def connect(self, connection_id: str | None = None, query: str = "", **extra: str):
        connection_id = connection_id or new_connection_id()
        path = self.path + (f"?{query}" if query else "")
        response = self.client.post(
            path,
            b"",
            content_type="",
            **self.headers("CONNECT", connection_id, "$connect", **extra),
        )
        response.connection_id = connection_id
        return response

    def message(self, connection_id: str, body: Any, **extra: str):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(
            self.path,
            raw,
            content_type="application/json",
            **self.headers("MESSAGE", connection_id, "$default", **extra),
        )

    def disconnect(self, connection_id: str, **extra: str):
        return self.client.post(
            self.path,
            b"",
            content_type="",
            **self.headers("DISCONNECT", connection_id, "$disconnect", **extra),
        )


@pytest.fixture
def gateway(client: Client) -> FakeGateway:
    return FakeGateway(client)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def captured_sends():
    """Pushes recorded as ``(connection_id, data)`` instead of sent: ``WsTestClient.capture``."""
    from ws_routes.testing import WsTestClient

    ws = WsTestClient()
    with ws.capture():
        yield ws.pushed


@pytest.fixture
def conn(gateway, alice):
    """An open socket of alice's on ``lobby``; messages carry no cookie (a logout would unbind)."""
    gateway.client.force_login(alice)
    response = gateway.connect(query="channel=lobby")
    assert response.status_code == 200
    gateway.client.cookies.clear()
    return response.connection_id
