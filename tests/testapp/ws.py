"""Routes of the test app, registered on the default router by autodiscovery."""

from ws_routes import WsError, ws_route
from ws_routes.routing import router

DISCONNECTED: list[tuple[str, str]] = []

CHAT_SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
    "additionalProperties": False,
}


@ws_route("echo")
def echo(request, body):
    return {"body": body, "user": request.user.get_username() or None}


@ws_route("chat.send", schema=CHAT_SCHEMA, login_required=True)
def chat_send(request, body):
    request.websocket_session.channel_members().send(
        {"from": request.user.get_username(), "text": body["text"]}
    )
    return {"ok": True}


@ws_route("users.list", permission="auth.view_user")
def users_list(request, body):
    return {"allowed": True}


@ws_route("boom")
def boom(request, body):
    raise RuntimeError("secret internals: password=hunter2")


@ws_route("app.error")
def app_error(request, body):
    raise WsError("nope", "Not today", {"why": "testing"})


@ws_route("silent")
def silent(request, body):
    return None


@ws_route("async.echo", schema={"type": "object", "required": ["n"]})
async def async_echo(request, body):
    return {"n": body["n"], "session": request.websocket_session.connection_id}


@ws_route("bad.reply")
def bad_reply(request, body):
    return {"not json": object()}


@router.on_connect
def refuse_forbidden_channel(request):
    if request.websocket_session.channel_name == "forbidden":
        return False
    if request.websocket_session.channel_name == "crash":
        raise RuntimeError("hook bug")
    if request.websocket_session.channel_name == "vip" and not request.user.is_staff:
        raise WsError("vip_only", "Staff only", status=403)
    if request.websocket_session.channel_name == "greet":
        # A push to the socket while its $connect runs: API Gateway answers 410 (not open yet).
        request.websocket_session.send({"type": "hello"})
    return None


@router.on_disconnect
def remember_disconnect(request):
    DISCONNECTED.append((request.websocket_session.connection_id, request.user.get_username()))


# Channels the suite connects to with ?channel= (a name no rule matches is refused).
for _pattern in ("lobby", "room{n}", "news", "a", "b", "x", "forbidden", "crash", "vip", "greet"):
    router.add_channel(_pattern)
