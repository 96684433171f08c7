"""The session query's SQLite shortcut: the SQL rewritten once, and taken only when nothing
(query logging, an execute wrapper, a tracer's patch, a custom backend) would miss the query."""

from __future__ import annotations

import sqlite3
import types

import pytest
from django.db import connection, transaction, utils
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext

from ws_routes import session_query
from ws_routes.models import WebSocketSession
from ws_routes.session_query import OpenSessionQuery

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own cursor"),
]


@pytest.fixture
def direct_executes(monkeypatch):
    """The SQL of each ``sqlite3.Cursor.execute`` the shortcut makes (delegated)."""
    seen: list[str] = []

    def execute(cursor, sql, params):
        seen.append(sql)
        return sqlite3.Cursor.execute(cursor, sql, params)

    shim = types.SimpleNamespace(Cursor=types.SimpleNamespace(execute=execute))
    monkeypatch.setattr(session_query, "_sqlite3", shim)
    return seen


def orm_row(connection_id):
    session = (
        WebSocketSession.objects.select_related("user")
        .filter(connection_id=connection_id, connected=True)
        .first()
    )
    return session.pk, session.user_id, session.connected_at, session.user


def test_the_sql_is_what_django_s_sqlite_cursor_would_send(alice, direct_executes):
    WebSocketSession.objects.create(connection_id="Direct=", user=alice)
    query = OpenSessionQuery()
    session = query.get("Direct=")
    plan = query._plans[("default", "sqlite")]
    with connection.cursor() as cursor:
        assert plan.sqlite_sql == cursor.cursor.convert_query(plan.sql)
    assert "%s" not in plan.sqlite_sql and "?" in plan.sqlite_sql
    assert direct_executes == [plan.sqlite_sql]  # one statement, the rewritten text
    assert (session.pk, session.user_id, session.connected_at, session.user) == orm_row("Direct=")
    assert query.get("Nobody=") is None
    assert len(direct_executes) == 2


@pytest.mark.parametrize(
    "hostile",
    ["%s", "%%s", "?", "'; DROP TABLE ws_routes_websocketsession; --", "a\x00b", "é" * 300],
)
def test_hostile_ids_are_bound_as_parameters(hostile, direct_executes):
    WebSocketSession.objects.create(connection_id="Kept=")
    assert OpenSessionQuery().get(hostile) is None
    assert len(direct_executes) == 1
    assert WebSocketSession.objects.filter(connection_id="Kept=").exists()


def test_logged_queries_go_through_django(direct_executes):
    """``assertNumQueries``, ``DEBUG`` and the debug toolbar see the message's one query."""
    WebSocketSession.objects.create(connection_id="Logged=")
    query = OpenSessionQuery()
    with CaptureQueriesContext(connection) as captured:
        assert query.get("Logged=") is not None
    assert direct_executes == []
    assert len(captured.captured_queries) == 1
    assert "Logged=" in captured.captured_queries[0]["sql"]


def test_an_execute_wrapper_sees_the_query(direct_executes):
    WebSocketSession.objects.create(connection_id="Wrapped=")
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert OpenSessionQuery().get("Wrapped=") is not None
    assert direct_executes == [] and len(seen) == 1 and "Wrapped=" in seen[0]


def test_a_tracer_that_patches_cursorwrapper_execute_sees_the_query(monkeypatch, direct_executes):
    """Sentry's Django integration replaces ``CursorWrapper.execute`` (``install_sql_hook``)."""
    WebSocketSession.objects.create(connection_id="Traced=")
    real, seen = CursorWrapper.execute, []

    def traced(self, sql, params=None):
        seen.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", traced)
    assert OpenSessionQuery().get("Traced=") is not None
    assert direct_executes == [] and len(seen) == 1


def test_a_backend_s_own_cursor_class_runs_its_execute(monkeypatch, direct_executes):
    """A backend subclassing Django's SQLite one (django-prometheus does) keeps its cursor."""
    WebSocketSession.objects.create(connection_id="Custom=")
    seen = []

    class CountingCursor(session_query._SQLiteCursor):
        def execute(self, query, params=None):
            seen.append(query)
            return super().execute(query, params)

    monkeypatch.setattr(
        connection, "create_cursor", lambda name=None: connection.connection.cursor(CountingCursor)
    )
    assert OpenSessionQuery().get("Custom=") is not None
    assert direct_executes == [] and len(seen) == 1


def test_a_broken_transaction_is_refused_as_django_refuses_it(direct_executes):
    WebSocketSession.objects.create(connection_id="Broken=")
    query = OpenSessionQuery()
    with transaction.atomic():
        connection.needs_rollback = True
        with pytest.raises(transaction.TransactionManagementError):
            query.get("Broken=")
        with pytest.raises(transaction.TransactionManagementError):
            orm_row("Broken=")
        connection.needs_rollback = False
    assert direct_executes == []


def test_a_driver_error_is_django_s_error(direct_executes):
    query = OpenSessionQuery()
    query.get("Warm=")  # the plan is made
    key = ("default", "sqlite")
    query._plans[key] = query._plans[key]._replace(sqlite_sql="SELECT * FROM no_such_table_ws")
    with pytest.raises(utils.OperationalError, match="no_such_table_ws") as raised:
        query.get("Any=")
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
