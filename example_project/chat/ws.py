"""The chat's WebSocket routes. A room is a channel: the page connects with ``?channel=<room>``.

Everything a client receives is either a reply to its own message (``{"action", "id", "data"}``)
or a push; pushes carry a ``"type"`` so the page can tell them apart:

- ``{"type": "chat.message", "room", "from", "text", "at"}`` to everyone in the room,
- ``{"type": "presence", "event": "join" | "leave", "room", "user"}`` to the others.

The chat has its own ``Router`` (mounted in ``example_project/urls.py``) rather than the default
one, so it can be tested next to other apps' routes without key clashes. Its pushes and replies
are declared, so ``WsTestClient`` checks them and ``manage.py wsschema`` documents them
(``docs/asyncapi-example.json``).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from ws_routes import Router, WsError
from ws_routes.models import WebSocketSession

router = Router()

#: ``chat.send``: one non-blank text of at most 500 characters, nothing else.
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"\S"}},
    "additionalProperties": False,
}
USERNAME = {"type": "string", "minLength": 1, "maxLength": 150}

router.message(
    "chat.message",
    description="A message someone sent to the room (the sender gets it too).",
    schema={
        "type": "object",
        "required": ["type", "room", "from", "text", "at"],
        "properties": {
            "type": {"enum": ["chat.message"]},
            "room": {"type": "string"},
            "from": USERNAME,
            "text": MESSAGE_SCHEMA["properties"]["text"],
            "at": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": False,
    },
)
router.message(
    "presence",
    description="Someone joined or left the room (sent to the others).",
    schema={
        "type": "object",
        "required": ["type", "event", "room", "user"],
        "properties": {
            "type": {"enum": ["presence"]},
            "event": {"enum": ["join", "leave"]},
            "room": {"type": "string"},
            "user": USERNAME,
        },
        "additionalProperties": False,
    },
)


def presence(event: str, session: WebSocketSession, username: str) -> dict[str, Any]:
    return {"type": "presence", "event": event, "room": session.channel_name, "user": username}


@router.on_connect
def announce_join(request: HttpRequest) -> None:
    """Refuse anonymous visitors; tell the room who arrived.

    The new session is not saved yet (and API Gateway refuses pushes to a connection before its
    ``$connect`` answered), so only the others hear about it.
    """
    if not request.user.is_authenticated:
        raise WsError("not_authenticated", "Log in to chat", status=401)
    session = request.websocket_session
    session.channel_members().send(presence("join", session, request.user.get_username()))


@router.on_disconnect
def announce_leave(request: HttpRequest) -> None:
    """Tell the room who left (the closed session is no longer among its members)."""
    session = request.websocket_session
    if session.user is not None:
        session.channel_members().send(presence("leave", session, session.user.get_username()))


SEND_REPLY = {
    "type": "object",
    "required": ["delivered"],
    "properties": {"delivered": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}
WHO_REPLY = {
    "type": "object",
    "required": ["room", "online"],
    "properties": {"room": {"type": "string"}, "online": {"type": "array", "items": USERNAME}},
    "additionalProperties": False,
}


@router.route("chat.send", schema=MESSAGE_SCHEMA, login_required=True, reply_schema=SEND_REPLY)
def send(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """Broadcast a message to the room, the sender included; reply with how many got it."""
    session = request.websocket_session
    result = session.channel_members().send(
        {
            "type": "chat.message",
            "room": session.channel_name,
            "from": request.user.get_username(),
            "text": body["text"],
            "at": timezone.now().isoformat(),
        }
    )
    return {"delivered": result.delivered}


@router.route(
    "chat.who",
    login_required=True,
    schema={"type": "object", "maxProperties": 0},
    reply_schema=WHO_REPLY,
)
def who(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """Who is online in this room: the users of its connected sessions, each named once."""
    session = request.websocket_session
    names = (
        session.channel_members()
        .filter(user__isnull=False)
        .values_list("user__username", flat=True)
        .distinct()
        .order_by("user__username")
    )
    return {"room": session.channel_name, "online": list(names)}
