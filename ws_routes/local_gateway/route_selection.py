"""Route selection as API Gateway does it with ``$request.body.<key>`` and a ``$default`` route."""

from __future__ import annotations

import json
from collections.abc import Container

DEFAULT_ROUTE = "$default"
CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"


def select_route(data: str | bytes, key: str, route_keys: Container[str] | None) -> str:
    """The route key for one client message.

    The message's JSON object names it under ``key``; anything else — a binary frame, text that
    is not a JSON object, a missing or non-string value, a key the API has no route for (when
    ``route_keys`` is given), a ``$``-key, a value with control characters — goes to
    ``$default``.

    Example: ``select_route('{"action": "ping"}', "action", {"ping"})`` → ``"ping"``.
    """
    if not isinstance(data, str):
        return DEFAULT_ROUTE
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
        return DEFAULT_ROUTE
    if not isinstance(body, dict):
        return DEFAULT_ROUTE
    value = body.get(key)
    if not isinstance(value, str) or not value or value.startswith("$"):
        return DEFAULT_ROUTE
    if not value.isprintable():
        # CR/LF and other control characters: no route key has them, so AWS finds no route
        # (the route key would also become the X-Ws-Route header, which cannot hold them).
        return DEFAULT_ROUTE
    if route_keys is not None and value not in route_keys:
        return DEFAULT_ROUTE
    return value
