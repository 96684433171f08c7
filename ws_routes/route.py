"""``Route``: one registered message route, as the registry, the view and deploy see it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .body_validators import BodyValidator

__all__ = ["ROUTE_KEY_PATTERN", "Route"]

#: What a route key may look like: API Gateway sends it back as ``context.routeKey``; keys starting
#: with ``$`` are the gateway's own (``$connect``, ``$disconnect``, ``$default``).
ROUTE_KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")


@dataclass(frozen=True)
class Route:
    """One registered message route: its key, plain-function handler and checks.

    ``schema``/``reply_schema`` are JSON Schemas (derived when a Pydantic type was given);
    their validators are compiled once at registration (``None``: no schema). ``pass_instance``:
    the handler's ``body`` is annotated with the type, so it gets the validated instance.
    """

    key: str
    handler: Callable[..., Any]
    schema: Mapping[str, Any] | None = None
    login_required: bool = False
    permission: str | None = None
    gateway_validation: bool = False
    validator: BodyValidator | None = field(default=None, repr=False, compare=False)
    is_async: bool = field(default=False, repr=False, compare=False)
    reply_schema: Mapping[str, Any] | None = None
    reply_validator: BodyValidator | None = field(default=None, repr=False, compare=False)
    pass_instance: bool = field(default=False, repr=False, compare=False)
