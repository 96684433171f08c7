"""The chat's WebSocket routes. A room is the channel ``room:<name>``, with presence and history.

The page connects once and subscribes to each room it follows (``channel.subscribe``, built in:
``enable_channel_routes``); after a reconnect the browser client resubscribes with the last
``seq`` it saw and gets what it missed. Pushes carry a ``"type"``:

- ``{"type": "chat.message", "room", "from", "text", "at", "channel", "seq"}`` to the room,
- ``{"type": "presence", "channel", "event": "join" | "leave", "user": {"username"}}``.

The chat has its own ``Router`` (mounted in ``example_project/urls.py``) rather than the default
one, so it can be tested next to other apps' routes without key clashes. Its pushes and replies
are declared, so ``WsTestClient`` checks them and ``manage.py wsschema`` documents them
(``docs/asyncapi-example.json``).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from ws_routes import Router, WsError
from ws_routes.channels import Channel, enable_channel_routes

router = Router()
enable_channel_routes(router)

#: Room names: what the pages accept (a subset of a channel placeholder's characters).
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: ``chat.send``: one non-blank text of at most 500 characters, and the room (default: the
#: ``?channel=`` of the connect).
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"\S"},
        "room": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "additionalProperties": False,
}
WHO_SCHEMA = {
    "type": "object",
    "properties": {"room": {"type": "string", "minLength": 1, "maxLength": 64}},
    "additionalProperties": False,
}

USERNAME = {"type": "string", "minLength": 1, "maxLength": 150}
#: What a history channel adds to each push (docs/channels.md).
SEQUENCED = {"channel": {"type": "string"}, "seq": {"type": "integer", "minimum": 1}}

router.message(
    "chat.message",
    description="A message someone sent to the room (the sender gets it too), numbered by `seq`.",
    schema={
        "type": "object",
        "required": ["type", "room", "from", "text", "at", "channel", "seq"],
        "properties": {
            "type": {"enum": ["chat.message"]},
            "room": {"type": "string"},
            "from": USERNAME,
            "text": MESSAGE_SCHEMA["properties"]["text"],
            "at": {"type": "string", "format": "date-time"},
            **SEQUENCED,
        },
        "additionalProperties": False,
    },
)
router.message(
    "presence",
    description="Someone joined or left a room's channel (sent to its subscribers).",
    schema={
        "type": "object",
        "required": ["type", "channel", "event", "user"],
        "properties": {
            "type": {"enum": ["presence"]},
            "channel": {"type": "string"},
            "event": {"enum": ["join", "leave"]},
            "user": {
                "type": "object",
                "required": ["username"],
                "properties": {"username": USERNAME},
            },
        },
        "additionalProperties": False,
    },
)
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


@router.channel("room:{name}", presence=True, history=100)
def may_join_room(request: HttpRequest, name: str) -> bool:
    """Any logged-in, active user may join any well-named room."""
    user = request.user
    if not user.is_authenticated or not user.is_active:
        raise WsError("not_authenticated", "Log in to chat", status=401)
    return bool(ROOM_PATTERN.fullmatch(name))


@router.on_connect
def refuse_anonymous(request: HttpRequest) -> None:
    """Refuse anonymous visitors (joins are announced by the room's presence rule)."""
    if not request.user.is_authenticated:
        raise WsError("not_authenticated", "Log in to chat", status=401)


def _room_channel(request: HttpRequest, body: dict[str, Any]) -> tuple[str, str]:
    """The room a message is about, and its channel; the socket must be following it."""
    session = request.websocket_session  # type: ignore[attr-defined]
    if "room" in body:
        room = body["room"]
    elif session.channel_name.startswith("room:"):
        room = session.channel_name[len("room:") :]
    else:
        raise WsError("no_room", "Say which room", [{"path": "$.room", "message": "required"}])
    channel = f"room:{room}"
    if not session.subscriptions.filter(channel=channel).exists():
        raise WsError("not_in_room", "Join the room first", {"room": room}, status=403)
    return room, channel


@router.route("chat.send", schema=MESSAGE_SCHEMA, login_required=True, reply_schema=SEND_REPLY)
def send(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """Broadcast a message to the room, the sender included; reply with how many got it."""
    room, channel = _room_channel(request, body)
    result = Channel(channel).send(
        {
            "type": "chat.message",
            "room": room,
            "from": request.user.get_username(),
            "text": body["text"],
            "at": timezone.now().isoformat(),
        }
    )
    return {"delivered": result.delivered}


@router.route("chat.who", login_required=True, schema=WHO_SCHEMA, reply_schema=WHO_REPLY)
def who(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """Who is online in a room: each user once, by name."""
    room, channel = _room_channel(request, body)
    names = [member["username"] for member in Channel(channel).members()]
    return {"room": room, "online": names}
