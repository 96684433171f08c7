"""The error codes the library itself answers a message with: code -> (HTTP status, when).

The HTTP status is what the view returns to API Gateway; the client sees only the JSON body.
``tests/test_asyncapi.py`` checks that every ``WsError`` code in ``views.py``/``validation.py``
is listed here, so the document cannot silently miss one.
"""

from __future__ import annotations

from typing import Any

#: Answered to any message, whatever the route.
ALWAYS: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "the frame is not JSON"),
    "invalid_message": (
        400,
        "not a JSON object, a bad action or id, or the body does not match the schema "
        "(details: one {path, message} per problem)",
    ),
    "too_large": (413, "the message is over MAX_BODY_BYTES"),
    "unknown_connection": (410, "the connection is not open (any more)"),
    "internal_error": (500, "the handler failed; the server log has the traceback"),
    "reply_too_large": (500, "the reply is over API Gateway's 128 KB"),
}
#: Answered only where the route asks for it.
LOGIN_REQUIRED = {"not_authenticated": (401, "the route needs a logged-in user")}
PERMISSION = {"permission_denied": (403, "the user lacks the route's permission")}
REPLY_SCHEMA = {"invalid_reply": (500, "DEBUG and tests only: the reply breaks reply_schema")}
UNKNOWN_ROUTE = {"unknown_route": (400, "no route has this action (and there is no default)")}


def route_codes(login_required: bool, permission: bool, reply_schema: bool) -> dict[str, Any]:
    """The library's codes one route can answer, sorted: ``{code: {"status", "when"}}``."""
    codes = dict(ALWAYS)
    if login_required:
        codes.update(LOGIN_REQUIRED)
    if permission:
        codes.update(PERMISSION)
    if reply_schema:
        codes.update(REPLY_SCHEMA)
    return {
        code: {"status": status, "when": when} for code, (status, when) in sorted(codes.items())
    }


def all_codes() -> dict[str, tuple[int, str]]:
    return {**ALWAYS, **LOGIN_REQUIRED, **PERMISSION, **REPLY_SCHEMA, **UNKNOWN_ROUTE}
