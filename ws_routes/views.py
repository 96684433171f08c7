"""The one view API Gateway posts every event to and the connect-token view.

``WebSocketView`` (the reference package's class-based API) lives in ``ws_routes.compat.view``
and stays importable from here.

A message costs one SQL query (the session joined with its user) and no writes; everything that
can refuse a call without the database does so before that query.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import path
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from .channels import connect as channel_connect
from .conf import ws_setting
from .contract import (
    API_ID_HEADER,
    CONNECT,
    CONNECTION_ID_HEADER,
    DISCONNECT,
    EVENT_HEADER,
    LAMBDA_INVOKE,
    LAMBDA_INVOKE_KEY,
    MESSAGE,
    REQUEST_ID_HEADER,
    ROUTE_HEADER,
    SECRET_HEADER,
    SOURCE_IP_HEADER,
    STAGE_HEADER,
    meta_key,
    valid_stage,
)
from .errors import WsError
from .message_parsing import ParsedMessage
from .models import ConnectToken, WebSocketSession
from .replies import error_response, json_response, reply_response
from .requests import acting_user_pk, ws_request
from .routing import Router
from .security import (
    API_ID_PATTERN,
    CONNECTION_ID_PATTERN,
    authenticate_connect,
    bound_user,
    clean_channel,
    clean_source_ip,
    connect_rate_limited,
    gateway_secret_is_valid,
    login_binding,
    origin_is_allowed,
    user_has_route_permission,
)
from .session_query import open_session_query
from .session_save import connected_session, save_connected_session
from .typed import checked_reply
from .validation import validated_body

logger = logging.getLogger("ws_routes")


class GatewayEvent(NamedTuple):
    """The ``X-Ws-*`` headers of one call, checked (a tuple: built on every call, a frozen
    dataclass would cost three times as much)."""

    kind: str
    connection_id: str
    route_key: str
    raw_source_ip: str
    request_id: str
    api_id: str
    stage: str


# The META keys of the contract, computed once (not per message).
_EVENT_KEY, _CONNECTION_ID_KEY = meta_key(EVENT_HEADER), meta_key(CONNECTION_ID_HEADER)
_API_ID_KEY, _STAGE_KEY = meta_key(API_ID_HEADER), meta_key(STAGE_HEADER)
_ROUTE_KEY, _SOURCE_IP_KEY = meta_key(ROUTE_HEADER), meta_key(SOURCE_IP_HEADER)
_REQUEST_ID_KEY, _SECRET_KEY = meta_key(REQUEST_ID_HEADER), meta_key(SECRET_HEADER)
_EVENT_KINDS = frozenset((CONNECT, MESSAGE, DISCONNECT))


def parse_gateway_event(request: HttpRequest) -> GatewayEvent:
    """Read the header contract of DESIGN.md; ``WsError`` 400 names the bad header."""
    meta = request.META
    kind = meta.get(_EVENT_KEY, "")
    if kind not in _EVENT_KINDS:
        raise WsError("bad_request", "X-Ws-Event must be CONNECT, MESSAGE or DISCONNECT")
    connection_id = meta.get(_CONNECTION_ID_KEY, "")
    if not CONNECTION_ID_PATTERN.fullmatch(connection_id):
        raise WsError("bad_request", "X-Ws-Connection-Id is missing or malformed")
    api_id = meta.get(_API_ID_KEY, "")
    stage = meta.get(_STAGE_KEY, "")
    if not API_ID_PATTERN.fullmatch(api_id) or not (stage == "" or valid_stage(stage)):
        raise WsError("bad_request", "X-Ws-Api-Id or X-Ws-Stage is malformed")
    return GatewayEvent(
        kind,
        connection_id,
        meta.get(_ROUTE_KEY, "")[:128],
        meta.get(_SOURCE_IP_KEY, ""),
        meta.get(_REQUEST_ID_KEY, "")[:128],
        api_id,
        stage,
    )


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a handler or hook, sync or ``async def``, from the sync view."""
    if inspect.iscoroutinefunction(fn):
        return async_to_sync(fn)(*args)
    return fn(*args)


# -- events ----------------------------------------------------------------------------------------


def handle_connect(router: Router, request: HttpRequest, event: GatewayEvent) -> HttpResponse:
    """Check origin, channel and identity, run ``on_connect`` hooks, then save the session.

    A token is spent only by a connect that succeeds: refused afterwards (a hook, a failure),
    it is given back, so a rejection leaves the database as it was.
    """
    source_ip = clean_source_ip(event.raw_source_ip)  # parsed here only: messages never need it
    if connect_rate_limited(source_ip):
        raise WsError("rate_limited", "Too many connection attempts", status=429)
    if not origin_is_allowed(request.headers.get("Origin")):
        raise WsError("origin_not_allowed", "This origin may not connect", status=403)
    channel = clean_channel(request.GET.get(ws_setting("CHANNEL_QUERY_PARAM")))
    user = authenticate_connect(request)  # spends the token, if any
    try:
        _open_session(router, request, event, user, channel, source_ip)
    except BaseException:
        spent = getattr(request, "ws_spent_token", None)
        if spent is not None:
            spent.restore()
        raise
    return HttpResponse(status=200)


def _open_session(
    router: Router,
    request: HttpRequest,
    event: GatewayEvent,
    user: Any,
    channel: str,
    source_ip: str | None,
) -> None:
    if ws_setting("CONNECT_LOGIN_REQUIRED") and not user.is_authenticated:
        raise WsError("not_authenticated", "Log in to connect", status=401)
    ids = (event.connection_id, event.api_id, event.stage)
    session = connected_session(ids, user, channel, source_ip, login_binding(user))
    request.user = user
    ws_request(request).websocket_session = session
    channel_connect.authorise_connect_channel(router, request, channel)
    for hook in router.connect_hooks:
        if _call(hook, request) is False:
            raise WsError("connection_refused", "The connection was refused", status=403)
    save_connected_session(session)  # one statement (session_save)
    channel_connect.subscribe_connected(session)


def handle_disconnect(router: Router, request: HttpRequest, event: GatewayEvent) -> HttpResponse:
    """Mark the session closed in one UPDATE; hooks run once, only if it was open."""
    closed = WebSocketSession.objects.filter(
        connection_id=event.connection_id, connected=True
    ).update(connected=False, disconnected_at=timezone.now(), updated_on=timezone.now())
    if closed:
        channel_connect.unsubscribe_disconnected(event.connection_id)
    if closed and router.disconnect_hooks:
        session = SimpleLazyObject(
            lambda: WebSocketSession.objects.select_related("user").get(
                connection_id=event.connection_id
            )
        )
        ws_request(request).websocket_session = cast(WebSocketSession, session)
        request.user = cast(Any, SimpleLazyObject(lambda: session.user or AnonymousUser()))
        for hook in router.disconnect_hooks:
            try:
                _call(hook, request)
            except Exception:
                # $disconnect cannot be refused; a failing hook must not hide the others.
                logger.exception("on_disconnect hook %r failed", hook)
    return HttpResponse(status=200)


def handle_message(router: Router, request: HttpRequest, event: GatewayEvent) -> HttpResponseBase:
    """Parse, route, load the session, authorise, validate, call the handler, reply."""
    message = ParsedMessage(router.route_selection_key)
    try:
        body = message.parse(request)
        route = router.resolve(message.envelope["action"])
        if route is None:
            raise WsError("unknown_route", f"No route for {message.envelope['action']!r}")
        session = open_session_query.get(event.connection_id)
        if session is None:
            raise WsError("unknown_connection", "This connection is not open", status=410)
        user = bound_user(session)  # None after a password change: the socket is anonymous
        wsrequest = ws_request(request)
        wsrequest.user = user or AnonymousUser()
        wsrequest.websocket_session = session
        wsrequest.ws_message = message.original  # WebSocketView reads self.body
        if route.login_required and user is None:
            raise WsError("not_authenticated", "Log in to use this route", status=401)
        if route.permission and not user_has_route_permission(request.user, route.permission):
            raise WsError("permission_denied", "You may not use this route", status=403)
        if route.validator is not None:
            body = validated_body(route, body)
        acting = acting_user_pk.set(user.pk if user is not None else None)
        try:
            # is_async was found at registration: no inspect call per message
            handler = async_to_sync(route.handler) if route.is_async else route.handler
            result = handler(request, body)
        finally:
            acting_user_pk.reset(acting)
        if route.reply_validator is not None:
            result = checked_reply(route, request, result)
    except WsError as error:
        return error_response(error, message.envelope)
    except PermissionDenied:
        return error_response(
            WsError("permission_denied", "You may not use this route", status=403),
            message.envelope,
        )
    except Exception:
        logger.exception(
            "Handler for %r failed (request %s)", message.envelope["action"], event.request_id
        )
        return error_response(
            WsError("internal_error", "The server failed to handle this message", status=500),
            message.envelope,
        )
    if isinstance(result, HttpResponseBase):
        return result
    if result is None:
        return HttpResponse(status=200)
    return reply_response(message.envelope, result)


EVENT_HANDLERS = {CONNECT: handle_connect, MESSAGE: handle_message, DISCONNECT: handle_disconnect}


def dispatch_gateway_request(router: Router, request: HttpRequest) -> HttpResponseBase:
    """Verify the caller is our gateway (before any query), then handle the event.

    A request ``ws_routes.aws_lambda`` built from a Lambda event has no secret: its handler
    checked the event's apiId/stage instead (docs/lambda.md).
    """
    from_lambda = request.META.get(LAMBDA_INVOKE_KEY) is LAMBDA_INVOKE
    if not from_lambda and not gateway_secret_is_valid(request.META.get(_SECRET_KEY)):
        return error_response(
            WsError("forbidden", "This endpoint only answers its API Gateway", status=403)
        )
    if request.method != "POST":
        return error_response(WsError("method_not_allowed", "POST only", status=405))
    try:
        event = parse_gateway_event(request)
        return EVENT_HANDLERS[event.kind](router, request, event)
    except WsError as error:
        return error_response(error)
    except PermissionDenied:
        return error_response(WsError("permission_denied", "Refused", status=403))
    except Exception:
        logger.exception("WebSocket %s failed", request.META.get(_EVENT_KEY, "event"))
        return error_response(
            WsError("internal_error", "The server failed to handle this event", status=500)
        )


def make_gateway_view(router: Router) -> Callable[..., HttpResponseBase]:
    """Build the csrf-exempt view for ``router`` (``view.ws_router`` points back to it)."""

    @csrf_exempt
    def gateway_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return dispatch_gateway_request(router, request)

    gateway_view.ws_router = router  # type: ignore[attr-defined]
    return gateway_view


# -- connect tokens --------------------------------------------------------------------------------


def router_urlpatterns(router: Router, view: Callable[..., Any]) -> list[Any]:
    """The URL patterns of ``router.urls``: the gateway view and the one-time token view."""
    return [
        path("", view, name="gateway"),
        path("token/", connect_token_view, name="token"),
    ]


@require_POST
@csrf_protect
def connect_token_view(request: HttpRequest) -> HttpResponse:
    """Mint a one-time connect token for the logged-in user (POST with the CSRF token).

    The browser then opens ``wss://…?token=<token>``; the token is single use and short-lived.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return error_response(WsError("not_authenticated", "Log in first", status=401))
    cache = caches[ws_setting("CACHE_ALIAS")]
    key = f"ws_routes:tokens:{user.pk}"
    per_minute = ws_setting("TOKEN_RATE_LIMIT_PER_MINUTE")
    if not cache.add(key, 1, timeout=60) and cache.incr(key) > per_minute:
        return error_response(WsError("rate_limited", "Too many tokens", status=429))
    ConnectToken.objects.filter(user=user, expires_at__lte=timezone.now()).delete()
    response = json_response(
        {"token": ConnectToken.mint(user), "expires_in": ws_setting("TOKEN_TTL_SECONDS")}
    )
    response["Cache-Control"] = "no-store"  # a one-time credential: no cache may keep it
    return response


# -- the reference's class-based API ---------------------------------------------------------------

from .compat.view import WebSocketView  # noqa: E402  (kept importable as ws_routes.views.*)

__all__ = [
    "WebSocketView",
    "connect_token_view",
    "dispatch_gateway_request",
    "make_gateway_view",
    "parse_gateway_event",
]
