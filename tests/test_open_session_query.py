"""The message path's precompiled session query returns what the ORM would, in one query."""

from __future__ import annotations

import pytest
from django.db import connection

from ws_routes.models import WebSocketSession
from ws_routes.session_query import OpenSessionQuery

pytestmark = pytest.mark.django_db


def orm(connection_id):
    return (
        WebSocketSession.objects.select_related("user")
        .filter(connection_id=connection_id, connected=True)
        .first()
    )


def same(a, b):
    fields = [f.attname for f in WebSocketSession._meta.concrete_fields]
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    if b.user is None:
        assert a.user is None
    else:
        user_fields = [f.attname for f in type(b.user)._meta.concrete_fields]
        assert [getattr(a.user, f) for f in user_fields] == [
            getattr(b.user, f) for f in user_fields
        ]


def test_matches_the_orm_with_and_without_user(alice, django_assert_num_queries):
    query = OpenSessionQuery()
    WebSocketSession.objects.create(
        connection_id="WithUser=", user=alice, channel_name="ü-room", source_ip="2001:db8::1"
    )
    WebSocketSession.objects.create(connection_id="Anon=", channel_name="lobby")
    for connection_id in ("WithUser=", "Anon="):
        with django_assert_num_queries(1):
            fast = query.get(connection_id)
            fast.user  # noqa: B018  (loaded with the session: no second query)
        same(fast, orm(connection_id))
    assert query.get("WithUser=").connected is True
    assert query.get("WithUser=").connected_at.tzinfo is not None


def test_closed_and_unknown_sessions_are_none():
    WebSocketSession.objects.create(connection_id="Closed=", connected=False)
    query = OpenSessionQuery()
    assert query.get("Closed=") is None
    assert query.get("Nobody=") is None
    assert query.get("'; DROP TABLE ws_routes_websocketsession; --") is None
    assert WebSocketSession.objects.count() == 1


def test_falls_back_to_the_orm_when_the_plan_cannot_be_made(alice, monkeypatch, caplog):
    WebSocketSession.objects.create(connection_id="Fallback=", user=alice)
    query = OpenSessionQuery()

    def broken(alias):
        raise TypeError("an ORM internal changed")

    monkeypatch.setattr(query, "_make_plan", broken)
    with caplog.at_level("WARNING", logger="ws_routes"):
        session = query.get("Fallback=")
    assert session.user == alice
    assert "Cannot precompile" in caplog.text
    assert query._plans[("default", connection.vendor)] is None


@pytest.mark.django_db(transaction=True)
def test_a_plan_made_in_one_thread_serves_others(alice):
    import threading

    from django.db import connections

    WebSocketSession.objects.create(connection_id="Threads=", user=alice)
    query = OpenSessionQuery()
    assert query.get("Threads=").user == alice  # plan made in this thread
    found = []

    def other_thread():
        try:
            found.append(query.get("Threads=").user.username)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=other_thread) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert found == ["alice"] * 4
