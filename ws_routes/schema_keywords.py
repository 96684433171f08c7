"""Unknown keywords in a route's JSON Schema, refused at import.

JSON Schema ignores a keyword it does not know, so ``{"requried": ["text"]}`` validates
everything: the handler then fails on the missing key (a 500) instead of the client getting
``invalid_message``. The known keywords are read from the dialect's metaschema (its
``properties``, and those of the vocabulary metaschemas a 2019-09/2020-12 metaschema refers to)
plus the keywords the validator implements. Names starting ``x-`` are extensions and allowed.

Example: ``unknown_keywords({"type": "object", "requried": ["a"]}, Draft202012Validator)`` ->
``[("(root)", "requried")]``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

#: Keywords whose value is one subschema / a list of them / a name -> subschema map.
ONE_SCHEMA = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")


def _referenced_metaschema(base: str, ref: str) -> Mapping[str, Any] | None:
    try:
        from jsonschema_specifications import REGISTRY  # installed with jsonschema >= 4.18
    except ImportError:  # pragma: no cover - older jsonschema: META_SCHEMA's own keywords
        return None
    try:
        contents = REGISTRY.contents(urljoin(base, ref))
    except Exception:  # an unknown URI: nothing more to learn
        return None
    return contents if isinstance(contents, Mapping) else None


@lru_cache(maxsize=16)
def known_keywords(validator_class: Any) -> frozenset[str]:
    """Every keyword the metaschema of ``validator_class`` names or the validator implements."""
    meta = validator_class.META_SCHEMA
    base = str(meta.get("$id") or meta.get("id") or "")
    found = set(validator_class.VALIDATORS)
    pending, seen = [meta], set()
    while pending:
        schema = pending.pop()
        found.update(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            ref = part.get("$ref") if isinstance(part, Mapping) else None
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                referenced = _referenced_metaschema(base, ref)
                if referenced is not None:
                    pending.append(referenced)
    return frozenset(found)


def _subschemas(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    for keyword in ONE_SCHEMA:
        if keyword in schema:
            yield f"{path}/{keyword}", schema[keyword]
    items = schema.get("items")
    if isinstance(items, list):
        yield from ((f"{path}/items/{i}", sub) for i, sub in enumerate(items))
    elif items is not None:
        yield f"{path}/items", items
    for keyword in SCHEMA_LISTS:
        value = schema.get(keyword)
        if isinstance(value, list):
            yield from ((f"{path}/{keyword}/{i}", sub) for i, sub in enumerate(value))
    for keyword in (*SCHEMA_MAPS, "dependencies"):
        value = schema.get(keyword)
        if isinstance(value, Mapping):  # dependencies: a list of names is no subschema
            yield from ((f"{path}/{keyword}/{name}", sub) for name, sub in value.items())


def unknown_keywords(schema: Any, validator_class: Any) -> list[tuple[str, str]]:
    """``(path, keyword)`` of each keyword in ``schema`` (and its subschemas) the dialect lacks."""
    known = known_keywords(validator_class)
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [("", schema)]
    while pending:
        path, current = pending.pop(0)
        if not isinstance(current, Mapping):
            continue  # true/false, or a malformed value check_schema has already refused
        found.extend(
            (path or "(root)", str(keyword))
            for keyword in current
            if keyword not in known and not str(keyword).startswith("x-")
        )
        pending.extend(_subschemas(current, path))
    return found


def unknown_keyword_message(what: str, schema: Any, validator_class: Any) -> str | None:
    """The ``RouteConfigurationError`` text for ``schema``'s unknown keywords, or None."""
    unknown = unknown_keywords(schema, validator_class)
    if not unknown:
        return None
    known = sorted(known_keywords(validator_class))
    listed = []
    for path, keyword in unknown[:5]:
        meant = difflib.get_close_matches(keyword, known, n=1, cutoff=0.6)
        guess = f" (did you mean {meant[0]!r}?)" if meant else ""
        listed.append(f"{keyword!r} at {path}{guess}")
    return (
        f"{what}: unknown JSON Schema keyword{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(listed)}. JSON Schema ignores a keyword it does not know, so the schema "
        "would not check what it says; prefix an extension with 'x-'."
    )
