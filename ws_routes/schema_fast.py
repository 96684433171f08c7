"""A fast acceptance test for typical JSON Schemas; jsonschema stays the judge of the rest.

``compile_fast(schema)`` turns a schema made only of the common keywords (``type``,
``properties``, ``required``, ``additionalProperties: false``, ``items``, string lengths,
number bounds, item counts, an ``enum`` of strings) into a plain Python function
``accepts(value) -> bool``, or returns ``None`` for any other schema. The function is
conservative: it answers ``True`` only for a value jsonschema (draft 2020-12, the default
without ``$schema``) also accepts, and ``False`` whenever in doubt (a float where an integer
is asked, anything unusual); ``JsonSchemaValidator`` then asks jsonschema, so every error
message and every edge case stays jsonschema's own. A valid message, the common case, skips
jsonschema's generic keyword dispatch.

Example: ``compile_fast({"type": "string", "maxLength": 3})("abc")`` is ``True``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

Accepts = Callable[[Any], bool]

#: Keywords that assert nothing (annotations): ignored by validation.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment"})
_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "enum",
    }
)
_DRAFT_2020_12 = {
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: JSON type -> a check that accepts only values of it (integer: ints only, never 1.0).
_TYPES: dict[str, Accepts] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


class _Unsupported(Exception):
    pass


def compile_fast(schema: Any) -> Accepts | None:
    """``accepts(value)`` for a typical top-level schema, else ``None`` (use jsonschema)."""
    if not isinstance(schema, Mapping) or schema.get("$schema", next(iter(_DRAFT_2020_12))) not in (
        _DRAFT_2020_12
    ):
        return None
    try:
        return _compile({k: v for k, v in schema.items() if k != "$schema"})
    except _Unsupported:
        return None


def _compile(schema: Any) -> Accepts:
    if schema is True:
        return lambda value: True
    if not isinstance(schema, Mapping):
        raise _Unsupported
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise _Unsupported
    checks: list[Accepts] = []
    if "type" in schema:
        kind = schema["type"]
        if not isinstance(kind, str) or kind not in _TYPES:
            raise _Unsupported
        checks.append(_TYPES[kind])
    checks += _string_checks(schema) + _number_checks(schema)
    checks += _object_checks(schema) + _array_checks(schema)
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise _Unsupported  # jsonschema's equality (1 is not True) differs from Python's
        allowed = frozenset(options)
        checks.append(lambda v: isinstance(v, str) and v in allowed)
    if len(checks) == 1:
        return checks[0]
    every = tuple(checks)

    def all_hold(value: Any) -> bool:
        for check in every:  # noqa: SIM110 (a loop: no generator per value)
            if not check(value):
                return False
        return True

    return all_hold


def _string_checks(schema: Mapping[str, Any]) -> list[Accepts]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "minLength" not in schema and high is None:
        return []
    if not _is_count(low) or not (high is None or _is_count(high)):
        raise _Unsupported
    top = high if high is not None else float("inf")
    # jsonschema counts code points (len of a Python str): so does this
    return [lambda v: not isinstance(v, str) or low <= len(v) <= top]


def _number_checks(schema: Mapping[str, Any]) -> list[Accepts]:
    checks: list[Accepts] = []
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "minimum": operator.ge,
        "maximum": operator.le,
        "exclusiveMinimum": operator.gt,
        "exclusiveMaximum": operator.lt,
    }
    for keyword, holds in comparisons.items():
        if keyword in schema:
            bound = schema[keyword]
            if not _is_number(bound):
                raise _Unsupported
            checks.append(_bounded_number(holds, bound))
    return checks


def _bounded_number(holds: Callable[[Any, Any], bool], bound: Any) -> Accepts:
    # the keyword applies to numbers only (not to booleans), as jsonschema applies it
    return lambda value: not _is_number(value) or holds(value, bound)


def _object_checks(schema: Mapping[str, Any]) -> list[Accepts]:
    checks: list[Accepts] = []
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise _Unsupported
    compiled = {name: _compile(sub) for name, sub in properties.items()}
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        raise _Unsupported
    extra = schema.get("additionalProperties", True)
    if extra is not True and extra is not False:
        raise _Unsupported
    if compiled:
        items = tuple(compiled.items())

        def properties_hold(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for name, accepts in items:  # noqa: SIM110
                if name in value and not accepts(value[name]):
                    return False
            return True

        checks.append(properties_hold)
    if required:
        needed = tuple(required)
        checks.append(lambda v: not isinstance(v, dict) or all(n in v for n in needed))
    if extra is False:
        known = frozenset(compiled)
        checks.append(lambda v: not isinstance(v, dict) or known.issuperset(v))
    return checks


def _array_checks(schema: Mapping[str, Any]) -> list[Accepts]:
    checks: list[Accepts] = []
    if "items" in schema:
        accepts = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(accepts(item) for item in v))
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if "minItems" in schema or high is not None:
        if not _is_count(low) or not (high is None or _is_count(high)):
            raise _Unsupported
        top = high if high is not None else float("inf")
        checks.append(lambda v: not isinstance(v, list) or low <= len(v) <= top)
    return checks
