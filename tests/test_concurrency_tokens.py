"""Issue 10 item 9: one token raced by ten connects under ATOMIC_REQUESTS, on SQLite and PostgreSQL.

Real threads, real connections (transactional_db). Before, SQLite answered seven of ten with a
500 ("database is locked": each request read the token, then tried to write it in the same
transaction). Now the first statement is the write that spends it: exactly one connect wins, the
others get 401, never a 500.
"""

from __future__ import annotations

import json

import pytest
from django.db import connections
from django.test import Client

from tests.conftest import FakeGateway
from tests.test_concurrency import run_together
from ws_routes.models import ConnectToken, WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def atomic_requests():
    database = connections.settings["default"]
    database["ATOMIC_REQUESTS"] = True
    yield
    database["ATOMIC_REQUESTS"] = False


def connect_with(raw: str) -> tuple[int, str | None]:
    response = FakeGateway(Client()).connect(query=f"token={raw}&channel=lobby")
    body = json.loads(response.content) if response.content else {}
    return response.status_code, body.get("error", {}).get("code")


@pytest.mark.parametrize("attempt", range(3))
def test_ten_connects_with_one_token_under_atomic_requests(alice, atomic_requests, attempt):
    raw = ConnectToken.mint(alice)
    outcomes = run_together(10, lambda i: connect_with(raw))
    assert sorted(outcomes) == [(200, None)] + [(401, "invalid_token")] * 9
    assert WebSocketSession.objects.filter(user=alice).count() == 1
    assert ConnectToken.objects.count() == 0


def test_a_refused_connect_under_atomic_requests_keeps_the_token(alice, atomic_requests):
    raw = ConnectToken.mint(alice)
    refused = FakeGateway(Client()).connect(query=f"token={raw}&channel=forbidden")
    assert refused.status_code == 403
    assert ConnectToken.objects.count() == 1 and WebSocketSession.objects.count() == 0
    outcomes = run_together(10, lambda i: connect_with(raw))
    assert sorted(outcomes) == [(200, None)] + [(401, "invalid_token")] * 9
