"""The validator interface and the JSON Schema validator; the Pydantic one sits beside it.

``validator.check(body)`` gives the problems (each with a JSON path, like
``{"path": "$.text", "message": "..."}``) and the value the handler may receive (the model
instance for a Pydantic type, the body itself for a JSON Schema). ``validation.compile_body``
picks the validator for a route's schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from .errors import RouteConfigurationError
from .schema_fast import compile_fast
from .schema_keywords import unknown_keyword_message

#: What ``validator_for`` picks for a schema without ``$schema``: the draft schema_fast follows.
_LATEST = validator_for({})

#: At most this many schema errors are listed in a reply.
MAX_SCHEMA_ERRORS = 20

Problems = list[dict[str, str]]


#: Characters of one JSON path element (a client's key) echoed in a problem's ``path``, of a
#: whole ``path``, and of a problem's ``message``: a 120 KB request must not get a 241 KB error.
MAX_PATH_ELEMENT_CHARS = 64
MAX_PATH_CHARS = 512
MAX_PROBLEM_MESSAGE_CHARS = 300


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_path(path: Any) -> str:
    """``("items", 0, "a b")`` -> ``$.items[0]["a b"]``: where a problem is, as clients read it.

    Each element is cut to ``MAX_PATH_ELEMENT_CHARS``, the whole path to ``MAX_PATH_CHARS``.
    """
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        name = _bounded(str(part), MAX_PATH_ELEMENT_CHARS)
        if name.isidentifier():
            parts.append(f".{name}")
        else:
            parts.append(f"[{json.dumps(name, ensure_ascii=False)}]")
    return _bounded("".join(parts), MAX_PATH_CHARS)


def short_message(message: str, instance: Any = None) -> str:
    """A validator's message quotes the whole offending value: shorten the quote, keep the rest."""
    if len(message) > MAX_PROBLEM_MESSAGE_CHARS:
        quoted = repr(instance)
        if len(quoted) > 60 and quoted in message:
            message = message.replace(quoted, quoted[:50] + "…")
    return _bounded(message, MAX_PROBLEM_MESSAGE_CHARS)


class BodyValidator:
    """What the registry and the view need from a validator, whatever library does the work.

    ``schema`` is the JSON Schema (given, or derived from the type) that ``gateway_validation``
    pushes and the AsyncAPI document shows; ``python_type`` is the Pydantic-validated type, or
    ``None`` for a plain JSON Schema.
    """

    schema: Mapping[str, Any]
    python_type: Any = None

    def check(self, value: Any) -> tuple[Problems, Any]:
        """``(problems, converted value)``; problems sorted by path, at most MAX_SCHEMA_ERRORS."""
        raise NotImplementedError

    def is_valid(self, value: Any) -> bool:
        return not self.check(value)[0]

    def to_json(self, value: Any) -> Any:
        """``value`` as JSON-ready data (a Pydantic type dumps its instances; dicts pass)."""
        return value


class JsonSchemaValidator(BodyValidator):
    """A JSON Schema dict, checked with ``check_schema`` once, compiled once.

    Example: ``JsonSchemaValidator({"type": "object"}).check({})`` -> ``([], {})``.
    """

    def __init__(self, schema: Mapping[str, Any], what: str = "schema") -> None:
        validator_class = validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except SchemaError as error:
            path = "/".join(str(part) for part in error.path) or "(root)"
            raise RouteConfigurationError(
                f"{what}: invalid JSON Schema at {path}: {error.message}"
            ) from None
        typo = unknown_keyword_message(what, schema, validator_class)
        if typo is not None:
            raise RouteConfigurationError(typo)
        self.schema = schema
        self._validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
        # A typical schema also gets a plain-Python acceptance test (schema_fast): a valid
        # value skips jsonschema's generic dispatch; anything else is jsonschema's to judge.
        self._accepts = compile_fast(schema) if validator_class is _LATEST else None

    def check(self, value: Any) -> tuple[Problems, Any]:
        accepts = self._accepts
        if accepts is not None and accepts(value):
            return [], value
        errors = sorted(self._validator.iter_errors(value), key=lambda e: [str(p) for p in e.path])
        return [
            {
                "path": json_path(error.absolute_path),
                "message": short_message(error.message, error.instance),
            }
            for error in errors[:MAX_SCHEMA_ERRORS]
        ], value

    def is_valid(self, value: Any) -> bool:
        if self._accepts is not None and self._accepts(value):
            return True
        return bool(self._validator.is_valid(value))

    def iter_errors(self, value: Any) -> Any:
        return self._validator.iter_errors(value)
