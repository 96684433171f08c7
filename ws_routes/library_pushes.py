"""The pushes the library itself sends, declared in one place (issue 26 item 3).

A project's ``router.message(...)`` declarations make ``WsTestClient`` strict and fill the
AsyncAPI document; the library's own pushes are declared here so a strict test client accepts
them (checked against these schemas) and the AsyncAPI document lists them. A project that
declares one of these names itself (``router.message("presence", ...)``) keeps its own.

Only presence is a push the library originates (``channels.presence``); history replays and
channel errors are replies to ``channel.*`` routes, documented with those routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``{"type": "presence", "channel", "event": "join" | "leave", "user": {...}}``
#: (``channels.presence.presence_push``; ``user`` is what ``PRESENCE_USER`` returns).
PRESENCE_PUSH_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["type", "channel", "event", "user"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "presence"},
        "channel": {"type": "string", "minLength": 1, "maxLength": 128},
        "event": {"enum": ["join", "leave"]},
        "user": {"type": "object"},
    },
}

#: Name -> (schema, description). The push's ``type`` field always names it (whatever the
#: router's ``type_key``: the library writes ``"type"``).
LIBRARY_PUSHES: Mapping[str, tuple[Mapping[str, Any], str]] = {
    "presence": (
        PRESENCE_PUSH_SCHEMA,
        "Sent by ws_routes to a presence channel's members when a socket joins or leaves it "
        "(one per socket); user is what WS_ROUTES['PRESENCE_USER'] returns.",
    ),
}
LIBRARY_TYPE_KEY = "type"
