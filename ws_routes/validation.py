"""Message validators: a JSON Schema dict (jsonschema) or a Python type (Pydantic), one interface.

``compile_body(what, schema)`` is called at registration, so a bad schema fails at import. The
view then calls ``validator.check(body)``: the problems (each with a JSON path, like
``{"path": "$.text", "message": "..."}``) and the value the handler may receive (the model
instance for a Pydantic type, the body itself for a JSON Schema).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from .errors import RouteConfigurationError, WsError

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
        self.schema = schema
        self._validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)

    def check(self, value: Any) -> tuple[Problems, Any]:
        errors = sorted(self._validator.iter_errors(value), key=lambda e: [str(p) for p in e.path])
        return [
            {
                "path": json_path(error.absolute_path),
                "message": short_message(error.message, error.instance),
            }
            for error in errors[:MAX_SCHEMA_ERRORS]
        ], value

    def is_valid(self, value: Any) -> bool:
        return bool(self._validator.is_valid(value))

    def iter_errors(self, value: Any) -> Any:
        return self._validator.iter_errors(value)


def is_python_type(schema: Any) -> bool:
    """Whether ``schema`` is a type Pydantic's ``TypeAdapter`` could take (not a dict, not text)."""
    return isinstance(schema, type) or typing.get_origin(schema) is not None


def compile_body(what: str, schema: Any, *, mode: str = "validation") -> BodyValidator | None:
    """The validator for a route's ``schema=`` (or ``reply_schema=``, ``mode="serialization"``).

    Example: ``compile_body("Route 'chat.send'", {"type": "object"})``. A dict is a JSON Schema;
    a class (Pydantic model, dataclass, ``TypedDict``) or a typing form needs the ``[pydantic]``
    extra. Anything else fails here, at import.
    """
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return JsonSchemaValidator(schema, what)
    if not is_python_type(schema):
        raise RouteConfigurationError(
            f"{what}: schema must be a dict (a JSON Schema) or a Pydantic model class / type, "
            f"not {type(schema).__name__} {schema!r:.80}."
        )
    try:
        from .pydantic_body import PydanticValidator
    except ImportError:
        raise RouteConfigurationError(
            f"{what}: schema must be a dict (a JSON Schema); {schema!r:.80} is a Python type, "
            "which needs Pydantic: pip install 'django-ws-routes[pydantic]'."
        ) from None
    return PydanticValidator(schema, what, mode=mode)


def wants_instance(handler: Callable[..., Any], validator: BodyValidator | None) -> bool:
    """Whether ``handler``'s ``body`` parameter is annotated with the validator's Python type.

    Then the handler receives the validated instance; otherwise it receives the body dict.
    String annotations (``from __future__ import annotations``) are resolved too.
    """
    if validator is None or validator.python_type is None:
        return False
    try:
        parameter = inspect.signature(handler).parameters.get("body")
    except (TypeError, ValueError):
        return False
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return False
    annotation = parameter.annotation
    if isinstance(annotation, str):
        try:
            annotation = typing.get_type_hints(handler).get("body", annotation)
        except Exception:  # an unresolvable forward reference: compare by name
            return annotation == getattr(validator.python_type, "__name__", None)
    return bool(annotation == validator.python_type)


def validated_body(route: Any, body: Any) -> Any:
    """What the handler receives, or ``WsError("invalid_message")`` listing each problem."""
    problems, value = route.validator.check(body)
    if problems:
        raise WsError("invalid_message", "The message does not match the schema", problems)
    return value if route.pass_instance else body
