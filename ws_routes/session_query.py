"""The message path's one SQL query: the open session joined with its user, compiled once.

Example: ``session = open_session_query.get(connection_id)`` (``None``: not open).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, cast

from django.db import DEFAULT_DB_ALIAS, connections
from django.db import router as db_router
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet

from .models import WebSocketSession
from .session_row import Converter, build_instance, convert_row, row_converters

logger = logging.getLogger("ws_routes")

#: Django's own ``CursorWrapper.execute``: a tracer that patches it (Sentry does) sees every
#: query, so the SQLite shortcut below is taken only while it is still this function.
_DJANGO_EXECUTE = CursorWrapper.execute
try:
    import sqlite3 as _sqlite3

    from django.db.backends.sqlite3.base import SQLiteCursorWrapper as _SQLiteCursor
except ImportError:  # a Python without sqlite3
    _SQLiteCursor = None  # type: ignore[assignment,misc]


class _Columns(NamedTuple):
    """Where one model's fields sit in the row: ``row[start:end]`` holds ``names``."""

    start: int
    end: int
    names: tuple[str, ...]


class _SessionPlan(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    id_position: int  # which parameter is the connection id
    session_converters: list[Converter]
    user_converters: list[Converter]  # run only when the row has a user
    session: _Columns
    user_model: Any
    user: _Columns
    user_pk_index: int
    #: ``sql`` as Django's SQLite cursor rewrites it for sqlite3 (``%s`` to ``?``), once.
    sqlite_sql: str | None


class OpenSessionQuery:
    """The message path's one query (open session joined with its user), compiled once per
    database.

    Building and compiling a ``select_related`` query costs Django ~10 times what SQLite takes
    to run it, on every message. This keeps the SQL, the column layout and the value converters
    of that query, and maps each row with the public ``Model.from_db``. Should a future Django
    change the compiler so that the plan cannot be made, it falls back to the plain ORM query
    (still one query).
    """

    _SENTINEL = "\x00ws_routes-connection-id\x00"

    def __init__(self) -> None:
        self._plans: dict[tuple[str, str], _SessionPlan | None] = {}

    @staticmethod
    def orm_query(alias: str, connection_id: str) -> QuerySet[WebSocketSession]:
        """The query itself, as the ORM writes it."""
        return (
            WebSocketSession.objects.using(alias)
            .select_related("user")
            .filter(connection_id=connection_id, connected=True)[:1]
        )

    def _make_plan(self, alias: str) -> _SessionPlan:
        compiler = self.orm_query(alias, self._SENTINEL).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        select, klass_info = compiler.select, compiler.klass_info
        (user_info,) = klass_info["related_klass_infos"]

        def columns(info: Any) -> _Columns:
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            return _Columns(
                start, end, tuple(col.target.attname for col, _, _ in select[start:end])
            )

        user_model = user_info["model"]
        user = columns(user_info)
        sqlite_sql = None
        if _SQLiteCursor is not None and connections[alias].vendor == "sqlite":
            # The rewrite reads no cursor state (Django 4.2 to 6.1); tests pin the same text.
            sqlite_sql = _SQLiteCursor.convert_query(cast(Any, None), sql)
        converters = row_converters(compiler.get_converters([column for column, _, _ in select]))
        return _SessionPlan(
            sql=sql,
            params=tuple(params),
            id_position=tuple(params).index(self._SENTINEL),
            session_converters=[c for c in converters if c[0] < user.start],
            user_converters=[c for c in converters if c[0] >= user.start],
            session=columns(klass_info),
            user_model=user_model,
            user=user,
            user_pk_index=user.start + user.names.index(user_model._meta.pk.attname),
            sqlite_sql=sqlite_sql,
        )

    def _plan(self, alias: str, vendor: str) -> _SessionPlan | None:
        key = (alias, vendor)
        try:
            return self._plans[key]
        except KeyError:
            pass
        try:
            plan: _SessionPlan | None = self._make_plan(alias)
        except Exception:  # an ORM internal changed: stay correct, lose the shortcut
            logger.warning("Cannot precompile the session query; using the ORM", exc_info=True)
            plan = None
        self._plans[key] = plan
        return plan

    def get(self, connection_id: str, using: str | None = None) -> WebSocketSession | None:
        """The connected session for ``connection_id`` with ``.user`` loaded, or ``None``."""
        # No DATABASE_ROUTERS (the common case): what the router would answer, without asking.
        alias = using or (
            db_router.db_for_read(WebSocketSession) if db_router.routers else DEFAULT_DB_ALIAS
        )
        connection = connections[alias]  # per thread: never cached in the plan
        plan = self._plan(alias, connection.vendor)
        if plan is None:
            return next(iter(self.orm_query(alias, connection_id)), None)
        params = list(plan.params)
        params[plan.id_position] = connection_id
        with connection.cursor() as cursor:
            raw = cursor.cursor
            if (
                plan.sqlite_sql is not None
                and type(cursor) is CursorWrapper  # not the debug cursor: nothing is logged
                and type(raw) is _SQLiteCursor  # Django's own backend, not a subclass
                and not connection.execute_wrappers
                and CursorWrapper.execute is _DJANGO_EXECUTE
            ):
                # What ``CursorWrapper.execute`` does then (its checks and error
                # translation), with SQLite's per-call regex rewrite of the long SQL done
                # once: that rewrite was a fifth of a message on SQLite.
                connection.validate_no_broken_transaction()
                with connection.wrap_database_errors:
                    _sqlite3.Cursor.execute(raw, plan.sqlite_sql, params)
                    row = raw.fetchone()
            else:
                cursor.execute(plan.sql, params)  # Django's: query logging, execute_wrappers
                # The DB-API cursor's fetchone inside Django's error translation: what
                # ``CursorWrapper.fetchone`` does, without the wrapper function it builds.
                with connection.wrap_database_errors:
                    row = raw.fetchone()
        if row is None:
            return None
        row = list(row)
        convert_row(row, plan.session_converters, connection)
        session = build_instance(
            WebSocketSession, alias, plan.session.names, row[plan.session.start : plan.session.end]
        )
        user = None
        if row[plan.user_pk_index] is not None:
            convert_row(row, plan.user_converters, connection)
            user = build_instance(
                plan.user_model, alias, plan.user.names, row[plan.user.start : plan.user.end]
            )
        # What select_related's populator does: the related object (or None) goes straight
        # into the cache; the descriptor's __set__ (type and router checks) is not needed.
        session._state.fields_cache["user"] = user
        return session


#: ``open_session_query.get(connection_id)``: the one query of a message.
open_session_query = OpenSessionQuery()
