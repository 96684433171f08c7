"""JSON Schema helpers shared by the registry and deploy: what draft 4 (API Gateway models) lacks.

A route with ``gateway_validation=True`` is checked here at registration, so a schema API Gateway
cannot take fails at import instead of at ``syncroutes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# JSON Schema keywords API Gateway models (draft 4) do not have, with the draft that added them.
_NOT_IN_DRAFT4 = {
    "const": "draft 6",
    "contains": "draft 6",
    "propertyNames": "draft 6",
    "$id": "draft 6",
    "if": "draft 7",
    "then": "draft 7",
    "else": "draft 7",
    "$defs": "2019-09",
    "$anchor": "2019-09",
    "$recursiveRef": "2019-09",
    "$recursiveAnchor": "2019-09",
    "$vocabulary": "2019-09",
    "dependentRequired": "2019-09",
    "dependentSchemas": "2019-09",
    "unevaluatedProperties": "2019-09",
    "unevaluatedItems": "2019-09",
    "minContains": "2019-09",
    "maxContains": "2019-09",
    "prefixItems": "2020-12",
    "$dynamicRef": "2020-12",
    "$dynamicAnchor": "2020-12",
}
_SUBSCHEMA_KEYWORDS = ("additionalItems", "additionalProperties", "not")
_SUBSCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "definitions")
_SUBSCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")


def _pointer(path: str, key: Any) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def draft4_problems(schema: Any) -> list[str]:
    """What in ``schema`` JSON Schema draft 4 (API Gateway models) cannot express.

    Each entry names a JSON pointer and the feature, e.g. ``"/properties/kind: 'const' (draft
    6)"``. Empty: the schema can be pushed as a model. Example::

        draft4_problems({"properties": {"kind": {"const": "a"}}})
    """
    problems: list[str] = []
    # (subschema, its JSON pointer, whether true/false is allowed there); a stack, not recursion,
    # so a hostile nesting depth costs memory, never a RecursionError.
    pending: list[tuple[Any, str, bool]] = [(schema, "", False)]
    while pending:
        node, path, boolean_ok = pending.pop()
        if isinstance(node, bool):
            if not boolean_ok:
                problems.append(
                    f"{path or '/'}: boolean schema {str(node).lower()} (draft 6); "
                    'write {} for true or {"not": {}} for false'
                )
            continue
        if not isinstance(node, Mapping):
            problems.append(f"{path or '/'}: a schema must be an object")
            continue
        for key, value in node.items():
            where = _pointer(path, key)
            problem = _draft4_keyword_problem(key, value)
            if problem:
                problems.append(f"{where}: {problem}")
            else:
                pending.extend(_subschemas(key, value, where))
    return sorted(problems)


def _draft4_keyword_problem(key: str, value: Any) -> str:
    if key in _NOT_IN_DRAFT4:
        return f"{key!r} ({_NOT_IN_DRAFT4[key]})"
    if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
        return f"numeric {key!r} (draft 6); draft 4 writes minimum/maximum with {key}: true"
    if key == "$ref" and not (
        isinstance(value, str) and (value == "#" or value.startswith("#/definitions/"))
    ):
        return f"$ref {value!r}; only local '#/definitions/...' references can be pushed as a model"
    return ""


def _subschemas(key: str, value: Any, where: str) -> list[tuple[Any, str, bool]]:
    """The subschemas under keyword ``key`` (draft 4's keywords only)."""
    if key in _SUBSCHEMA_KEYWORDS:
        return [(value, where, key != "not")]  # additionalItems/Properties may be booleans
    if key == "items":
        if isinstance(value, list):
            return [(item, _pointer(where, i), False) for i, item in enumerate(value)]
        return [(value, where, False)]
    if key in _SUBSCHEMA_MAP_KEYWORDS and isinstance(value, Mapping):
        return [(sub, _pointer(where, name), False) for name, sub in value.items()]
    if key in _SUBSCHEMA_LIST_KEYWORDS and isinstance(value, list):
        return [(sub, _pointer(where, i), False) for i, sub in enumerate(value)]
    if key == "dependencies" and isinstance(value, Mapping):
        return [
            (sub, _pointer(where, name), False)
            for name, sub in value.items()
            if not isinstance(sub, list)  # a list of property names is not a schema
        ]
    return []
