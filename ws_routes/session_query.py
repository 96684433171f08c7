"""The message path's one SQL query: the open session joined with its user, compiled once.

Example: ``session = open_session_query.get(connection_id)`` (``None``: not open).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from django.db.models import QuerySet

from .models import WebSocketSession

logger = logging.getLogger("ws_routes")


class _Columns(NamedTuple):
    """Where one model's fields sit in the row: ``row[start:end]`` holds ``names``."""

    start: int
    end: int
    names: list[str]


class _SessionPlan(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    id_position: int  # which parameter is the connection id
    converters: dict[int, Any]  # row index -> (converter functions, expression)
    session: _Columns
    user_model: Any
    user: _Columns
    user_pk_index: int


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
            return _Columns(start, end, [col.target.attname for col, _, _ in select[start:end]])

        user_model = user_info["model"]
        user = columns(user_info)
        return _SessionPlan(
            sql=sql,
            params=tuple(params),
            id_position=tuple(params).index(self._SENTINEL),
            converters=compiler.get_converters([column for column, _, _ in select]),
            session=columns(klass_info),
            user_model=user_model,
            user=user,
            user_pk_index=user.start + user.names.index(user_model._meta.pk.attname),
        )

    def _plan(self, alias: str) -> _SessionPlan | None:
        from django.db import connections

        key = (alias, connections[alias].vendor)
        if key not in self._plans:
            try:
                self._plans[key] = self._make_plan(alias)
            except Exception:  # an ORM internal changed: stay correct, lose the shortcut
                logger.warning("Cannot precompile the session query; using the ORM", exc_info=True)
                self._plans[key] = None
        return self._plans[key]

    def get(self, connection_id: str, using: str | None = None) -> WebSocketSession | None:
        """The connected session for ``connection_id`` with ``.user`` loaded, or ``None``."""
        from django.db import connections, router

        alias = using or router.db_for_read(WebSocketSession)
        plan = self._plan(alias)
        if plan is None:
            return next(iter(self.orm_query(alias, connection_id)), None)
        connection = connections[alias]  # per thread: never cached in the plan
        params = list(plan.params)
        params[plan.id_position] = connection_id
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for index, (functions, expression) in plan.converters.items():
            for convert in functions:
                row[index] = convert(row[index], expression, connection)
        session = WebSocketSession.from_db(
            alias, plan.session.names, row[plan.session.start : plan.session.end]
        )
        if row[plan.user_pk_index] is not None:
            session.user = plan.user_model.from_db(
                alias, plan.user.names, row[plan.user.start : plan.user.end]
            )
        return session


#: ``open_session_query.get(connection_id)``: the one query of a message.
open_session_query = OpenSessionQuery()
