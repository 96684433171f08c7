"""The Django cache (Redis in production) unreachable: connects and permission routes go on.

The soak (bench/soak.py --redis-cut) cuts Redis for 5 s under load; a connect or a message on a
``permission=`` route must not fail because the limiter's or the permission set's cache is away.
A real ``RedisCache`` pointed at a closed port: no mock of the cache.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Permission

from tests.background_support import closed_port
from tests.test_view_message import reply
from ws_routes import security

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        **settings.CACHES,
        "unreachable": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "CACHE_ALIAS": "unreachable",
        "CONNECT_RATE_LIMIT": (60, 60),
    }
    security._cache_warned_at = 0.0
    yield
    security._cache_warned_at = 0.0


def test_a_connect_is_let_in_and_the_outage_logged(gateway, cache_down, caplog):
    with caplog.at_level(logging.WARNING, logger="ws_routes"):
        first = gateway.connect(query="channel=lobby")
        second = gateway.connect(query="channel=lobby")
    assert (first.status_code, second.status_code) == (200, 200)
    warnings = [r.getMessage() for r in caplog.records if "cache unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "connect rate limit not counted" in warnings[0]


def test_permission_routes_ask_the_backends_while_the_cache_is_away(
    gateway, conn, alice, cache_down
):
    response = gateway.message(conn, {"action": "users.list"})
    assert response.status_code == 403 and reply(response)["error"]["code"] == "permission_denied"
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    response = gateway.message(conn, {"action": "users.list"})
    assert reply(response) == {"action": "users.list", "data": {"allowed": True}}
