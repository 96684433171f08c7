"""Errors a handler raises to answer the client, and errors raised at import for bad routes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class WsError(Exception):
    """Raise in a handler to reply ``{"error": {"code", "message", "details"}}``.

    Example::

        @ws_route("room.join")
        def join(request, body):
            if body["room"] not in ROOMS:
                raise WsError("no_such_room", "That room does not exist", {"room": body["room"]})
    """

    status = 400

    def __init__(
        self, code: str, message: str = "", details: Any = None, *, status: int | None = None
    ) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.details = details
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class RouteConfigurationError(ImproperlyConfigured):
    """A route cannot be registered (bad key, schema, signature, duplicate, frozen router)."""
