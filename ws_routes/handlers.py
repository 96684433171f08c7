"""Checks on the functions users register (handlers, hooks): callable with the view's arguments.

Run at registration, so a wrong signature fails at import with the ``def`` to write instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .errors import RouteConfigurationError


def handler_name(handler: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler, for error messages."""
    module = getattr(handler, "__module__", "?")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


def check_signature(handler: Callable[..., Any], what: str, args: tuple[str, ...]) -> None:
    """Refuse ``handler`` unless ``handler(*args)`` binds; ``what`` names it in the error."""
    if not callable(handler):
        raise RouteConfigurationError(f"{what}: {handler!r} is not callable.")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # builtins without a signature: let them be
        return
    try:
        signature.bind(*args)
    except TypeError as error:
        wanted = ", ".join(args)
        raise RouteConfigurationError(
            f"{what}: handler {handler_name(handler)}{signature} cannot be called as "
            f"handler({wanted}) ({error}). Define it as `def {handler.__name__}({wanted}): ...`."
        ) from None
