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


@pytest.mark.parametrize("use_tz", [True, False])
def test_datetimes_are_what_the_orm_gives_with_and_without_use_tz(alice, settings, use_tz):
    settings.USE_TZ = use_tz
    WebSocketSession.objects.create(connection_id="Times=", user=alice)
    fast, slow = OpenSessionQuery().get("Times="), orm("Times=")
    same(fast, slow)
    assert (fast.connected_at.tzinfo is not None) is use_tz
    assert fast.user.date_joined == slow.user.date_joined


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own converters")
def test_the_inlined_sqlite_converters_convert_as_django_does(settings):
    import datetime

    from ws_routes.session_row import SQLITE_BOOLEAN, SQLITE_DATETIME, convert_row, row_converters

    ops = connection.ops
    as_datetime, as_bool = ops.convert_datetimefield_value, ops.convert_booleanfield_value
    converters = row_converters({0: ([as_datetime], None), 1: ([as_bool], None)})
    assert [kind for _, kind, _, _ in converters] == [SQLITE_DATETIME, SQLITE_BOOLEAN]
    naive = datetime.datetime(2026, 12, 7, 7, 3, 0, 123456)
    aware = naive.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    values = (naive, aware, None, "2026-12-07 07:03:00.123456")
    flags = (1, 0, True, None, 2, "x")
    for use_tz in (True, False):
        settings.USE_TZ = use_tz
        for value, flag in zip(values + values[:2], flags, strict=True):
            row = [value, flag]
            convert_row(row, converters, connection)
            expected = [as_datetime(value, None, connection), as_bool(flag, None, connection)]
            assert row == expected
            assert [type(v) for v in row] == [type(v) for v in expected]
            assert getattr(row[0], "tzinfo", None) == getattr(expected[0], "tzinfo", None)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own converters")
def test_the_memo_of_aware_datetimes_answers_what_replace_would(settings, monkeypatch):
    """The memo (naive UTC -> aware) is keyed by value: equal values share one aware datetime,
    a ``fold`` of 1 is not answered with a fold of 0, and the memo stays bounded."""
    import datetime
    from concurrent.futures import ThreadPoolExecutor

    from ws_routes import session_row

    monkeypatch.setattr(session_row, "_AWARE", {})
    monkeypatch.setattr(session_row, "AWARE_MEMO_SIZE", 50)
    settings.USE_TZ = True
    converters = session_row.row_converters(
        {0: ([connection.ops.convert_datetimefield_value], None)}
    )
    utc = datetime.timezone.utc

    def converted(value):
        row = [value]
        session_row.convert_row(row, converters, connection)
        return row[0]

    naive = datetime.datetime(2026, 12, 7, 7, 3, 0, 123456)
    first, again = converted(naive), converted(naive.replace())
    assert first == again == naive.replace(tzinfo=utc) and first is again
    folded = converted(naive.replace(fold=1))
    assert folded.fold == 1 and folded.tzinfo is utc
    assert converted(naive + datetime.timedelta(microseconds=1)) != first
    for minutes in range(500):  # many sessions: the memo is emptied, never grows past its size
        value = naive + datetime.timedelta(minutes=minutes)
        assert converted(value) == value.replace(tzinfo=utc)
        assert len(session_row._AWARE) <= 50
    wrong: list[object] = []

    def many(offset):
        for minutes in range(2000):
            value = naive + datetime.timedelta(minutes=minutes % 120, seconds=offset)
            if converted(value) != value.replace(tzinfo=utc):
                wrong.append(value)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(many, range(4)))
    assert not wrong


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own converters")
def test_a_database_time_zone_is_left_to_django(settings):
    import datetime

    from ws_routes.session_row import convert_row, row_converters

    naive = datetime.datetime(2026, 12, 7, 7, 3, 0)
    seen = []

    def django_like(value, expression, conn):
        seen.append(value)
        return value

    converters = row_converters({0: ([connection.ops.convert_datetimefield_value], None)})
    converters = [(i, kind, django_like, e) for i, kind, _, e in converters]

    class OtherZone:
        timezone = datetime.timezone(datetime.timedelta(hours=1))  # a database TIME_ZONE

    row = [naive]
    convert_row(row, converters, OtherZone())
    assert seen == [naive]  # not assumed UTC: Django's converter decides


def test_the_user_is_cached_as_select_related_caches_it(alice, django_assert_num_queries):
    WebSocketSession.objects.create(connection_id="Cached=", user=alice)
    WebSocketSession.objects.create(connection_id="NoUser=")
    query = OpenSessionQuery()
    with django_assert_num_queries(1):
        with_user = query.get("Cached=")
    with django_assert_num_queries(1):
        without = query.get("NoUser=")
    with django_assert_num_queries(0):
        assert with_user.user == alice and with_user.user_id == alice.pk
        assert without.user is None and without.user_id is None
    without.user = alice  # still an ordinary instance: the descriptor sets and saves it
    without.save(update_fields=["user"])
    assert WebSocketSession.objects.get(connection_id="NoUser=").user == alice


def test_an_error_reading_the_row_is_django_s_error(monkeypatch):
    """The row is read with the DB-API cursor's ``fetchone`` inside Django's error wrapper: a
    driver error still reaches the caller as ``django.db.utils``' class, with its cause, as
    ``CursorWrapper.fetchone`` would raise it; and the query is still logged."""
    from django.db import utils
    from django.db.backends.utils import CursorWrapper
    from django.test.utils import CaptureQueriesContext

    WebSocketSession.objects.create(connection_id="Broken=")
    driver_error = connection.Database.OperationalError("disk I/O error")

    class FailingFetch:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def fetchone(self):
            raise driver_error

    real_cursor = connection.cursor

    def cursor():
        wrapper = real_cursor()
        wrapper.cursor = FailingFetch(wrapper.cursor)
        return wrapper

    monkeypatch.setattr(connection, "cursor", cursor)
    with (
        CaptureQueriesContext(connection) as captured,
        pytest.raises(utils.OperationalError, match="disk I/O error") as raised,
    ):
        OpenSessionQuery().get("Broken=")
    assert raised.value.__cause__ is driver_error
    assert len(captured.captured_queries) == 1
    assert isinstance(real_cursor(), CursorWrapper)
