"""A user's typed code against the public API: mypy checks it (`make typecheck`), pytest runs it.

Each ``assert_type`` pins what a user's editor and type checker see: if the library's annotations
drift (a send returning ``Any``, a decorator losing the handler's type), mypy fails here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from typing_extensions import assert_type

from ws_routes import Router, WsError, ws_route
from ws_routes.models import WebSocketSession, WebSocketSessionQuerySet
from ws_routes.requests import WsRequest
from ws_routes.sending import SendResult
from ws_routes.testing import WsReply, WsTestClient

typed_router = Router(app_name="typed")


@typed_router.route("chat.send", schema={"type": "object", "required": ["text"]})
def chat_send(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    if not body["text"]:
        raise WsError("empty", "say something", details={"field": "text"})
    return {"ok": True}


@ws_route("typed.echo", router=typed_router)
def echo(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    return body


@typed_router.route("typed.where")
def where(request: WsRequest, body: dict[str, Any]) -> dict[str, str]:
    session = request.websocket_session
    assert_type(session, WebSocketSession)
    return {"channel": session.channel_name, "connection": session.connection_id}


# The decorators return the function unchanged, with its type.
assert_type(chat_send(HttpRequest(), {"text": "x"}), dict[str, Any])
assert_type(echo(HttpRequest(), {"a": 1}), dict[str, Any])


def push_to_lobby(text: str) -> int:
    lobby = WebSocketSession.objects.filter(channel_name="lobby")
    assert_type(lobby, WebSocketSessionQuerySet)
    result = lobby.send({"text": text})
    assert_type(result, SendResult)
    return result.delivered + result.gone + result.failed


def push_to_one(session: WebSocketSession) -> list[str]:
    result = session.send({"n": 1})
    assert_type(result, SendResult)
    return result.failed_ids


def a_test() -> None:
    with WsTestClient(router=typed_router) as ws:
        conn = ws.connect()
        reply = conn.send("chat.send", {"text": "hi"})
        assert_type(reply, WsReply)
        assert reply.data == {"ok": True}
        assert reply.error is None
