"""Which validator a schema gets: a JSON Schema dict (jsonschema) or a Python type (Pydantic).

``compile_body(what, schema)`` is called at registration, so a bad schema fails at import. The
validators themselves are in ``body_validators`` (JSON Schema) and ``pydantic_body`` (Pydantic).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any

from .body_validators import (
    MAX_SCHEMA_ERRORS,
    BodyValidator,
    JsonSchemaValidator,
    Problems,
    json_path,
    short_message,
)
from .errors import RouteConfigurationError, WsError

__all__ = [
    "MAX_SCHEMA_ERRORS",
    "BodyValidator",
    "check_body_annotation",
    "JsonSchemaValidator",
    "Problems",
    "compile_body",
    "is_python_type",
    "json_path",
    "short_message",
    "validated_body",
    "wants_instance",
]


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
    annotation = _body_annotation(handler)
    if isinstance(annotation, str):  # an unresolvable forward reference: compare by name
        return annotation == getattr(validator.python_type, "__name__", None)
    return annotation is not None and bool(annotation == validator.python_type)


def _body_annotation(handler: Callable[..., Any]) -> Any:
    """The resolved annotation of ``handler``'s ``body`` parameter, or None when it has none;
    one that cannot be resolved (a forward reference) stays its string."""
    try:
        parameter = inspect.signature(handler).parameters.get("body")
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, str):
        try:
            annotation = typing.get_type_hints(handler).get("body", annotation)
        except Exception:  # unresolvable: the caller decides what a name may match
            return annotation
    return annotation


def _is_model_class(annotation: Any) -> bool:
    """A Pydantic model or a dataclass: a class a handler would expect an instance of."""
    if not isinstance(annotation, type):
        return False
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and issubclass(annotation, pydantic.BaseModel):
        return True
    return dataclasses.is_dataclass(annotation)


def check_body_annotation(what: str, handler: Callable[..., Any], validator: Any) -> None:
    """``RouteConfigurationError`` when ``body`` is annotated with a model the schema is not.

    ``def send(request, body: ChatSend)`` with ``schema={...}`` (or ``schema=OtherModel``, or no
    schema) would be called with a dict while its code expects a ``ChatSend``: an
    ``AttributeError`` (a 500) on the first message instead of an error at import.
    """
    annotation = _body_annotation(handler)
    if not _is_model_class(annotation):
        return
    python_type = getattr(validator, "python_type", None)
    if python_type is annotation:
        return
    given = (
        "no schema"
        if validator is None
        else f"schema={getattr(python_type, '__name__', python_type)}"
        if python_type is not None
        else "a JSON Schema dict as schema"
    )
    raise RouteConfigurationError(
        f"{what}: the handler's body is annotated {annotation.__name__}, but the route has "
        f"{given}, so the handler would receive a dict, not a {annotation.__name__}. "
        f"Pass schema={annotation.__name__} (the route then validates with it and passes the "
        "instance), or annotate body as dict."
    )


def validated_body(route: Any, body: Any) -> Any:
    """What the handler receives, or ``WsError("invalid_message")`` listing each problem."""
    problems, value = route.validator.check(body)
    if problems:
        raise WsError("invalid_message", "The message does not match the schema", problems)
    return value if route.pass_instance else body
