"""Concurrent input: real threads, real connections (transactional_db), SQLite or PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from tests.conftest import FakeGateway, new_connection_id
from ws_routes.models import ConnectToken, WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def worker(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(worker, range(count)))


def test_one_token_raced_by_many_connects_admits_exactly_one(alice):
    raw = ConnectToken.mint(alice)
    statuses = run_together(
        8, lambda i: FakeGateway(Client()).connect(query=f"token={raw}").status_code
    )
    assert sorted(statuses) == [200] + [401] * 7
    assert WebSocketSession.objects.filter(user=alice).count() == 1
    assert ConnectToken.objects.count() == 0


def test_concurrent_messages_on_many_connections(alice):
    gateway = FakeGateway(Client())
    ids = [gateway.connect().connection_id for _ in range(6)]

    def send(i: int) -> Any:
        response = FakeGateway(Client()).message(ids[i % 6], {"action": "echo", "id": i})
        return response.status_code, json.loads(response.content)["id"]

    results = run_together(12, send)
    assert results == [(200, i) for i in range(12)]


def test_concurrent_connect_and_disconnect_of_same_id_ends_consistent():
    cid = new_connection_id()

    def act(i: int) -> int:
        gateway = FakeGateway(Client())
        return (gateway.connect(cid) if i % 2 == 0 else gateway.disconnect(cid)).status_code

    assert set(run_together(8, act)) == {200}
    assert WebSocketSession.objects.filter(connection_id=cid).count() == 1
