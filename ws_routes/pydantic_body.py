"""Pydantic's side of ``validation``: a model class, dataclass or ``TypedDict`` as a route schema.

Imported only when a route gives a Python type, so the core runs without the ``[pydantic]``
extra. The JSON Schema is derived once, at registration, with draft 4 style references
(``#/definitions/...``) so nested models can still be pushed as API Gateway models.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import PydanticUserError, TypeAdapter, ValidationError

from .body_validators import MAX_SCHEMA_ERRORS, BodyValidator, Problems, json_path, short_message
from .errors import RouteConfigurationError

#: Where nested models go in the derived schema: draft 4's ``definitions``, not ``$defs``.
REF_TEMPLATE = "#/definitions/{model}"


def derived_schema(adapter: TypeAdapter[Any], what: str, mode: str) -> dict[str, Any]:
    """The JSON Schema of ``adapter``'s type; ``RouteConfigurationError`` if it has none."""
    try:
        schema = adapter.json_schema(mode=mode, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
        json.dumps(schema, allow_nan=False)
    except (PydanticUserError, TypeError, ValueError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RouteConfigurationError(
            f"{what}: cannot derive a JSON Schema from {adapter._type!r:.80} ({first_line}). "
            "Every field must have a JSON type (no callables, no arbitrary classes): the schema is "
            "what clients, API Gateway and the AsyncAPI document see."
        ) from None
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return schema


class PydanticValidator(BodyValidator):
    """Validation by ``TypeAdapter(python_type)``; errors keep the library's JSON paths.

    Example::

        class ChatSend(BaseModel):
            text: str

        PydanticValidator(ChatSend).check({"text": "hi"})  # ([], ChatSend(text='hi'))
    """

    def __init__(self, python_type: Any, what: str = "schema", *, mode: str = "validation") -> None:
        try:
            self._adapter: TypeAdapter[Any] = TypeAdapter(python_type)
        except PydanticUserError as error:
            raise RouteConfigurationError(
                f"{what}: Pydantic cannot validate {python_type!r:.80}: "
                f"{str(error).splitlines()[0]}"
            ) from None
        self.python_type = python_type
        self.schema = derived_schema(self._adapter, what, mode)
        # Only classes have instances to dump; a TypedDict validates to a plain dict.
        self._dumps_instances = isinstance(python_type, type) and not issubclass(python_type, dict)

    def check(self, value: Any) -> tuple[Problems, Any]:
        try:
            return [], self._adapter.validate_python(value)
        except ValidationError as error:
            details = error.errors(include_url=False, include_context=False)
            details.sort(key=lambda e: [str(p) for p in e["loc"]])
            return [
                {"path": json_path(e["loc"]), "message": short_message(e["msg"], e.get("input"))}
                for e in details[:MAX_SCHEMA_ERRORS]
            ], value

    def to_json(self, value: Any) -> Any:
        if self._dumps_instances and isinstance(value, self.python_type):
            return self._adapter.dump_python(value, mode="json")
        return value
