"""The message path's one SQL query: the open session joined with its user, compiled once.

Example: ``session = open_session_query.get(connection_id)`` (``None``: not open).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, NamedTuple

from django.db import connections
from django.db import router as db_router
from django.db.models import Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

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
        alias = using or db_router.db_for_read(WebSocketSession)
        connection = connections[alias]  # per thread: never cached in the plan
        plan = self._plan(alias, connection.vendor)
        if plan is None:
            return next(iter(self.orm_query(alias, connection_id)), None)
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
        session = build_instance(
            WebSocketSession, alias, plan.session.names, row[plan.session.start : plan.session.end]
        )
        if row[plan.user_pk_index] is not None:
            session.user = build_instance(
                plan.user_model, alias, plan.user.names, row[plan.user.start : plan.user.end]
            )
        return session


_DJANGO_FROM_DB = getattr(Model.from_db, "__func__", None)


def _plain_fields(model: Any, names: list[str]) -> bool:
    """Whether ``model`` is built by Django's own ``__init__`` and ``from_db`` and every field
    in ``names`` is a stock attribute (no custom descriptor): then filling ``__dict__`` is what
    ``__init__`` would do."""
    own_from_db = getattr(model.from_db, "__func__", None)
    if model.__init__ is not Model.__init__ or own_from_db is not _DJANGO_FROM_DB:
        return False  # the project's own construction: run it
    return all(
        type(inspect.getattr_static(model, name, None))
        in (DeferredAttribute, ForeignKeyDeferredAttribute)
        for name in names
    )


_plain_models: dict[tuple[Any, tuple[str, ...]], bool] = {}


def build_instance(model: Any, alias: str, names: list[str], values: list[Any]) -> Any:
    """``model.from_db(alias, names, values)``, without ``Model.__init__`` when nothing can tell.

    ``from_db`` runs ``__init__``, which sends ``pre_init``/``post_init`` and sets each field
    through its descriptor. When the model has no such receiver, its own ``__init__`` is
    Django's and its fields are stock, the instance is the same built directly (the session of
    every message, its user too for Django's ``User``).
    """
    key = (model, tuple(names))
    plain = _plain_models.get(key)
    if plain is None:
        plain = _plain_models[key] = _plain_fields(model, names) and len(names) == len(
            model._meta.concrete_fields
        )
    if not plain or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(alias, names, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = alias
    return instance


#: ``open_session_query.get(connection_id)``: the one query of a message.
open_session_query = OpenSessionQuery()
