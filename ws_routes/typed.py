"""The server's side of the contract: declared pushes and checked replies.

``router.message("chat.message", schema=...)`` declares a message the server pushes; a route's
``reply_schema=`` declares what its handler returns. Both are JSON Schema dicts or Python types
(see ``validation``), both appear in the AsyncAPI document, and both are checked where a mistake
should be loud but free in production: in ``WsTestClient`` (a test fails) and under ``DEBUG``
(the client gets an ``invalid_reply`` error naming each problem).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpResponseBase

from .errors import RouteConfigurationError, WsError
from .library_pushes import LIBRARY_PUSHES, LIBRARY_TYPE_KEY
from .validation import BodyValidator, Problems, compile_body, json_path

logger = logging.getLogger("ws_routes")

#: Set on a request (by ``WsTestClient``) to check replies whatever ``DEBUG`` says.
CHECK_REPLIES_ATTRIBUTE = "ws_check_replies"
#: Set on the request when a reply violated its ``reply_schema`` (``WsTestClient`` reads it).
REPLY_PROBLEMS_ATTRIBUTE = "ws_reply_problems"


@dataclass(frozen=True)
class MessageType:
    """One server-to-client message type: pushes whose ``type`` field is ``name``."""

    name: str
    schema: Mapping[str, Any]
    validator: BodyValidator = field(repr=False, compare=False)
    description: str = ""


class MessageTypes:
    """The push declarations of one router, keyed by name; a duplicate fails at import."""

    def __init__(self, type_key: str = "type") -> None:
        self.type_key = type_key
        self._types: dict[str, MessageType] = {}

    def declare(self, name: str, schema: Any, description: str = "") -> MessageType:
        what = f"Message {name!r}"
        if not isinstance(name, str) or not name or len(name) > 128:
            raise RouteConfigurationError(
                f"Invalid message name {name!r}: a non-empty string of at most 128 characters."
            )
        if name in self._types:
            raise RouteConfigurationError(
                f"Duplicate message {name!r}: already declared on this router; declare each "
                "server-to-client message once (a router.include() may bring a second one)."
            )
        validator = compile_body(what, schema, mode="serialization")
        if validator is None:
            raise RouteConfigurationError(f"{what}: schema= is required (a dict or a type).")
        declared = MessageType(name, validator.schema, validator, str(description or ""))
        self._types[name] = declared
        return declared

    def merge(self, other: MessageTypes) -> None:
        for name, declared in other._types.items():
            if name in self._types and self._types[name] is not declared:
                raise RouteConfigurationError(
                    f"Duplicate message {name!r}: include() brings a second declaration."
                )
            self._types[name] = declared

    def __iter__(self) -> Iterator[MessageType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def get(self, name: Any) -> MessageType | None:
        return self._types.get(name) if isinstance(name, str) else None

    def problems(self, data: Any) -> Problems:
        """What is wrong with a push ``data`` against the declarations (empty: it is fine)."""
        declared = self.get(data.get(self.type_key)) if isinstance(data, Mapping) else None
        if declared is None and isinstance(data, Mapping):
            declared = library_message(data.get(LIBRARY_TYPE_KEY))
        if declared is None:
            names = ", ".join(sorted(self._types)) or "none"
            found = data.get(self.type_key) if isinstance(data, Mapping) else type(data).__name__
            return [
                {
                    "path": json_path([self.type_key]),
                    "message": f"undeclared push {found!r}: declare it with "
                    f"router.message(name, schema=...) (declared: {names})",
                }
            ]
        return declared.validator.check(declared.validator.to_json(data))[0]


_LIBRARY_TYPES: dict[str, MessageType] = {}


def library_message(name: Any) -> MessageType | None:
    """A push the library itself sends (``library_pushes``), compiled once, else ``None``."""
    if not isinstance(name, str) or name not in LIBRARY_PUSHES:
        return None
    if name not in _LIBRARY_TYPES:
        _LIBRARY_TYPES[name] = MessageTypes().declare(name, *LIBRARY_PUSHES[name])
    return _LIBRARY_TYPES[name]


def reply_checks_enabled(request: Any) -> bool:
    return bool(getattr(request, CHECK_REPLIES_ATTRIBUTE, False) or settings.DEBUG)


def checked_reply(route: Any, request: Any, result: Any) -> Any:
    """The handler's ``result`` as JSON-ready data, checked against ``reply_schema`` when enabled.

    An empty reply (``None``) or an ``HttpResponse`` is not checked. A violation raises
    ``WsError("invalid_reply")`` (500) listing each problem, recorded on the request for
    ``WsTestClient``.
    """
    validator = route.reply_validator
    result = validator.to_json(result)
    if result is None or isinstance(result, HttpResponseBase) or not reply_checks_enabled(request):
        return result
    problems, _ = validator.check(result)
    if problems:
        setattr(request, REPLY_PROBLEMS_ATTRIBUTE, problems)
        logger.error("Reply of %r violates its reply_schema: %s", route.key, problems)
        raise WsError(
            "invalid_reply",
            f"The reply of {route.key!r} violates its reply_schema",
            problems,
            status=500,
        )
    return result
