"""Which sessions a background broadcast goes to, as data: a versioned JSON description.

A worker (and the web process, when staff cancel) rebuilds the recipients from a table row,
so the row must only ever be able to *select sessions*: never carry code. The description is
a conjunction of conditions on a fixed set of the session's fields (all sessions; channel
members; users; connection ids; gateway, api and stage; keyset ranges of primary keys)::

    {"version": 1, "conditions": [{"field": "channel_name", "lookup": "exact", "value": "lobby"}]}

:func:`describe` turns a queryset into it and refuses, naming what is supported, a queryset it
cannot describe exactly (an ``exclude()``, an OR, a filter on another field or a related
model, a subquery). :func:`recipients_from` validates a stored description before it builds
anything: a row that does not validate raises :class:`InvalidRecipients` and is never run.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.db.models.lookups import Lookup
from django.db.models.sql.where import AND, WhereNode

VERSION = 1
SESSION_MODEL = "ws_routes.websocketsession"
# field in the description -> (the model it sits on, its attname there, the filter() path)
SESSION_FIELDS = {
    "pk": ("session", "id", "pk"),
    "connection_id": ("session", "connection_id", "connection_id"),
    "user_id": ("session", "user_id", "user_id"),
    "channel_name": ("session", "channel_name", "channel_name"),
    "api_id": ("session", "api_id", "api_id"),
    "stage": ("session", "stage", "stage"),
    "connected": ("session", "connected", "connected"),
    "subscriptions__channel": ("subscription", "channel", "subscriptions__channel"),
}
# The one JSON type each field's values have: a row with a value Django cannot convert
# ("abc" for a pk) must fail validation, not raise later in the worker or in the admin's cancel.
VALUE_TYPES: dict[str, type] = {
    "pk": int,
    "connection_id": str,
    "user_id": int,
    "channel_name": str,
    "api_id": str,
    "stage": str,
    "connected": bool,
    "subscriptions__channel": str,
}
LOOKUPS = frozenset({"exact", "in", "gt", "gte", "lt", "lte", "isnull"})
MAX_CONDITIONS = 32
MAX_VALUES = 100_000  # of one ``in`` list (user ids, connection ids)
MAX_STRING = 1024
SUPPORTED = (
    "background sends take querysets of WebSocketSession filtered (with filter(), ANDed) on "
    "pk, connection_id, user/user_id, channel_name, api_id, stage, connected or "
    "subscriptions__channel (in_channel()), with exact, in, gt, gte, lt, lte or isnull and "
    "plain values (lists of ids, not subqueries)"
)


class InvalidRecipients(ValueError):
    """A stored recipient description that does not validate: it is refused, never run."""


def describe(queryset: QuerySet) -> dict[str, Any]:
    """The description of ``queryset``'s sessions; ``ValueError`` (the message says what is
    supported) when it cannot be described exactly."""
    session_model = _session_model()
    if queryset.model is not session_model:
        raise ValueError(f"{SUPPORTED}; not a queryset of {queryset.model.__name__}")
    query = queryset.query
    if query.extra or query.annotations or query.extra_tables:
        raise ValueError(f"{SUPPORTED}; not extra() or annotate()")
    conditions: list[dict[str, Any]] = []
    subscription_model = session_model._meta.get_field("subscriptions").related_model
    models = {session_model: "session", subscription_model: "subscription"}
    _walk(query.where, conditions, models)
    if sum(c["field"] == "subscriptions__channel" for c in conditions) > 1:
        raise ValueError(f"{SUPPORTED}; at most one channel condition (in_channel) per send")
    description = {"version": VERSION, "conditions": conditions}
    try:
        validate(description)
    except InvalidRecipients as exc:
        raise ValueError(f"{SUPPORTED}; not this: {exc}") from exc
    return description


def _session_model() -> Any:
    return apps.get_model(SESSION_MODEL)


def _walk(node: Any, conditions: list[dict[str, Any]], models: dict[Any, str]) -> None:
    if isinstance(node, WhereNode):
        if node.negated or (node.connector != AND and len(node.children) > 1):
            raise ValueError(f"{SUPPORTED}; not exclude(), ~Q() or OR")
        for child in node.children:
            _walk(child, conditions, models)
        return
    if not isinstance(node, Lookup):
        raise ValueError(f"{SUPPORTED}; not {type(node).__name__}")
    field = _field_of(node, models)
    value = _value_of(node, field["field"])
    conditions.append({**field, "lookup": node.lookup_name, "value": value})


def _field_of(lookup: Lookup, models: dict[Any, str]) -> dict[str, str]:
    target = getattr(lookup.lhs, "target", None)
    kind = models.get(getattr(target, "model", None))
    for name, (on, attname, _path) in SESSION_FIELDS.items():
        if kind == on and getattr(target, "attname", None) == attname:
            return {"field": name}
    raise ValueError(f"{SUPPORTED}; not a filter on {getattr(target, 'name', lookup.lhs)!r}")


def _value_of(lookup: Lookup, field: str) -> Any:
    value = lookup.rhs
    if isinstance(value, Model):
        value = value.pk
    if isinstance(value, (set, frozenset, tuple, list)):
        # None never matches in SQL's IN, and Django drops it too: leave it out of the list.
        value = sorted(v.pk if isinstance(v, Model) else v for v in value if v is not None)
    if not _is_plain(value, str(lookup.lookup_name), field):
        raise ValueError(f"{SUPPORTED}; not a value of type {type(lookup.rhs).__name__}")
    return value


def _is_plain(value: Any, lookup: str, field: str) -> bool:
    """``value`` is of ``field``'s one JSON type (``type() is``: a bool is not an int here)."""
    expected = VALUE_TYPES[field]

    def scalar(v: Any) -> bool:
        if type(v) is not expected:
            return False
        return not isinstance(v, str) or len(v) <= MAX_STRING

    if lookup == "in":
        return isinstance(value, list) and len(value) <= MAX_VALUES and all(map(scalar, value))
    if lookup == "isnull":
        return type(value) is bool
    return scalar(value)


def validate(description: Any) -> None:
    """Refuse anything that is not a version-1 description (shape, fields, lookups, values)."""
    if not isinstance(description, dict) or set(description) != {"version", "conditions"}:
        raise InvalidRecipients("a recipient description is {'version': 1, 'conditions': [...]}")
    if description["version"] != VERSION or type(description["version"]) is not int:
        raise InvalidRecipients(
            f"recipient description version {description['version']!r} is not supported "
            f"(this version of django-ws-routes reads version {VERSION})"
        )
    conditions = description["conditions"]
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise InvalidRecipients(f"conditions must be a list of at most {MAX_CONDITIONS}")
    for condition in conditions:
        if not isinstance(condition, dict) or set(condition) != {"field", "lookup", "value"}:
            raise InvalidRecipients("each condition is {'field', 'lookup', 'value'}")
        field, lookup = condition["field"], condition["lookup"]
        if not isinstance(field, str) or field not in SESSION_FIELDS:
            raise InvalidRecipients(f"field {field!r} is not one of {sorted(SESSION_FIELDS)}")
        if not isinstance(lookup, str) or lookup not in LOOKUPS:
            raise InvalidRecipients(f"lookup {lookup!r} is not one of {sorted(LOOKUPS)}")
        if not _is_plain(condition["value"], lookup, field):
            kind = VALUE_TYPES[field].__name__
            raise InvalidRecipients(
                f"the value of {field}__{lookup} is not a plain {kind} (or a list of them)"
            )


def recipients_from(description: Any, using: str) -> QuerySet:
    """The sessions ``description`` selects on database ``using``, after validating it."""
    validate(description)
    queryset = _session_model()._default_manager.db_manager(using).all()
    for condition in description["conditions"]:
        path = SESSION_FIELDS[condition["field"]][2]
        queryset = queryset.filter(**{f"{path}__{condition['lookup']}": condition["value"]})
    return queryset
