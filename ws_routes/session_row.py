"""A row of the message query turned into model instances, as ``Model.from_db`` would.

Split from :mod:`ws_routes.session_query` (which makes and runs the query): this is the
per-message Python work after ``fetchone``, kept to what Django itself would do.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

_UTC = datetime.timezone.utc
#: How a column is converted: by its converter, or by the same steps inlined (SQLite's).
CALL, SQLITE_DATETIME, SQLITE_BOOLEAN = 0, 1, 2
#: One column's conversion: (row index, kind, converter, expression).
Converter = tuple[int, int, Any, Any]


def _kind(convert: Any) -> int:
    """Which of SQLite's two hot converters ``convert`` is (``CALL``: any other)."""
    try:
        from django.db.backends.sqlite3.operations import DatabaseOperations as SQLite
    except ImportError:  # a Python without sqlite3
        return CALL
    function = getattr(convert, "__func__", None)
    if function is SQLite.convert_datetimefield_value:
        return SQLITE_DATETIME
    if function is SQLite.convert_booleanfield_value:
        return SQLITE_BOOLEAN
    return CALL


def row_converters(converters: dict[int, tuple[list[Any], Any]]) -> list[Converter]:
    """``compiler.get_converters(...)`` as a flat list in column order."""
    return [
        (index, _kind(convert), convert, expression)
        for index, (functions, expression) in sorted(converters.items())
        for convert in functions
    ]


def convert_row(row: list[Any], converters: list[Converter], connection: Any) -> None:
    """Run ``converters`` on ``row`` in place, as the compiler's ``apply_converters`` does.

    SQLite's boolean and datetime converters are inlined (the same statements as Django's,
    pinned by tests/test_open_session_query.py): a message's row would otherwise pay a call per
    column. A datetime that is not the plain naive value sqlite3 returns, ``USE_TZ`` off or a
    database ``TIME_ZONE``, goes to Django's own converter.
    """
    aware_utc: bool | None = None
    for index, kind, convert, expression in converters:
        value = row[index]
        if kind == SQLITE_BOOLEAN:
            row[index] = bool(value) if value in (1, 0) else value
            continue
        if kind == SQLITE_DATETIME:
            if value is None:
                continue
            if aware_utc is None:
                aware_utc = bool(settings.USE_TZ) and connection.timezone is _UTC
            if aware_utc and type(value) is datetime.datetime and value.tzinfo is None:
                aware = _AWARE.get(value)
                if aware is None or aware.fold != value.fold:
                    aware = utc_of(value)
                row[index] = aware
                continue
        row[index] = convert(value, expression, connection)


#: Naive UTC datetimes read lately and the aware ones they become: a session's
#: ``connected_at`` and ``updated_on`` are the same on each of its messages, and a lookup costs
#: a fifth of ``replace(tzinfo=...)``. Both are immutable, so sharing one is safe; the memo is
#: emptied when full (under a megabyte).
_AWARE: dict[datetime.datetime, datetime.datetime] = {}
AWARE_MEMO_SIZE = 4096


def utc_of(value: datetime.datetime) -> datetime.datetime:
    """``value`` (naive, UTC) made aware, and kept in the memo."""
    if len(_AWARE) >= AWARE_MEMO_SIZE:
        _AWARE.clear()
    aware = _AWARE[value] = value.replace(tzinfo=_UTC)
    return aware


_DJANGO_FROM_DB = getattr(Model.from_db, "__func__", None)


def _plain_fields(model: Any, names: tuple[str, ...]) -> bool:
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


def _has_init_receivers(model: Any) -> bool:
    """Whether ``pre_init`` or ``post_init`` reaches ``model`` (no receiver at all: one check)."""
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


def build_instance(model: Any, alias: str, names: Sequence[str], values: list[Any]) -> Any:
    """``model.from_db(alias, names, values)``, without ``Model.__init__`` when nothing can tell.

    ``from_db`` runs ``__init__``, which sends ``pre_init``/``post_init`` and sets each field
    through its descriptor. When the model has no such receiver, its own ``__init__`` is
    Django's and its fields are stock, the instance is the same built directly (the session of
    every message, its user too for Django's ``User``).
    """
    key = (model, names if isinstance(names, tuple) else tuple(names))
    plain = _plain_models.get(key)
    if plain is None:
        plain = _plain_models[key] = _plain_fields(model, key[1]) and len(names) == len(
            model._meta.concrete_fields
        )
    if not plain or _has_init_receivers(model):
        return model.from_db(alias, names, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = alias
    return instance
