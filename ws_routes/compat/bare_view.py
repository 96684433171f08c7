"""``connect()`` and ``dispatch()`` called on a bare ``WebSocketView``, as the reference's did.

Through the gateway the core has done the work before the view runs (the secret check, the
connect's authentication and its one INSERT, a message's one session query), and the view
always has ``websocket_session``. A project's own tests, and code that builds a view itself,
call ``WebSocketView(api_gateway=gw).connect(request)`` or ``.dispatch(request)`` with none:
the reference's hooks then built or loaded the session themselves, and so does this, through
the core's own checks (origins, ``authenticate_connect``, ``CONNECTION_ID_PATTERN``, the
channel rules, ``login_binding``, one INSERT, ``bound_user``). No HTTP request gets here:
``as_view()`` and a router's view go through the core first. Not done here: the per-IP rate
limit (the core counts it, before any view) and the reference's forgeable header checks
(docs/migrating.md says why).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseForbidden,
    JsonResponse,
)

from ..channels import connect as channel_connect
from ..channels.authorise import authorise_guarded
from ..conf import ws_setting
from ..contract import API_ID_HEADER, SOURCE_IP_HEADER, STAGE_HEADER, meta_key, valid_stage
from ..errors import WsError
from ..message_parsing import check_depth, decode_json
from ..models import ApiGateway, WebSocketSession
from ..requests import ws_request
from ..security import (
    API_ID_PATTERN,
    authenticate_connect,
    bound_user,
    clean_channel,
    clean_source_ip,
    login_binding,
    origin_is_allowed,
)
from ..session_query import open_session_query
from ..session_save import connected_session, save_connected_session
from .direct_calls import named_connection_id

logger = logging.getLogger("ws_routes")


def missing_token_response(view: Any, request: HttpRequest) -> HttpResponse | None:
    """The reference's 400 when ``USE_WS_TOKEN`` is on and the request has no token (with a
    hint when it has the reference's unmapped ``ws_token``); ``None`` otherwise."""
    param = ws_setting("TOKEN_QUERY_PARAM")
    if not view.USE_WS_TOKEN or request.GET.get(param) is not None:
        return None
    hint = ""
    if "ws_token" in request.GET:
        hint = (
            f": send the token as ?{param}=, or set "
            "WS_ROUTES['TOKEN_QUERY_PARAM'] = 'ws_token' and run syncroutes"
        )
    return HttpResponseBadRequest("Invalid or expired token" + hint)


def bare_body(request: HttpRequest, max_size: int) -> dict[str, Any]:
    """The request's JSON object, parsed as strictly as the core parses a message; ``{}`` for
    anything else (too large, not JSON, not an object), as the reference's ``setup`` kept."""
    limit = min(max_size, ws_setting("MAX_BODY_BYTES"))
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            return {}
        raw = request.body
    except Exception:  # a malformed length, a stream already read
        return {}
    if len(raw) > limit:
        return {}
    try:
        message, brackets, problem = decode_json(raw)
        if problem or not isinstance(message, dict):
            return {}
        check_depth(message, brackets, ws_setting("MAX_JSON_DEPTH"))
    except WsError:
        return {}
    return message


def _named_api(request: HttpRequest, gateway: ApiGateway | None) -> tuple[str, str] | None:
    """The api id and stage of the connect: the view's gateway's, else the request's headers
    (ours, else the reference's api id header); ``None`` when a header is malformed."""
    if gateway is not None:
        return gateway.api_id, gateway.stage_name
    meta = request.META
    api_id = meta.get(meta_key(API_ID_HEADER)) or meta.get("HTTP_X_AMZN_APIGATEWAY_API_ID") or ""
    stage = meta.get(meta_key(STAGE_HEADER)) or ""
    if not API_ID_PATTERN.fullmatch(api_id) or not (stage == "" or valid_stage(stage)):
        return None
    return api_id, stage


def _source_ip(request: HttpRequest) -> str | None:
    """Recorded only (never trusted): ours, else the first ``X-Forwarded-For`` entry."""
    meta = request.META
    raw = meta.get(meta_key(SOURCE_IP_HEADER)) or meta.get("HTTP_X_FORWARDED_FOR", "")
    return clean_source_ip(raw.split(",")[0])


def _refusal(error: WsError) -> HttpResponse:
    """The reference's answer to a refused connect authentication (a bad token: 400)."""
    if error.code == "invalid_token":
        return HttpResponseBadRequest("Invalid or expired token")
    return HttpResponse(error.message, status=error.status)


def connect_bare(
    view: Any, gateway: ApiGateway | None, request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    """Check, authenticate and save the connect the request names, as the gateway's $connect
    and then the view's ``connect`` would; a refusal writes nothing and gives the token back."""
    connection_id = named_connection_id(request)
    if not connection_id:
        return view.session_not_found(request, *args, **kwargs)
    api = _named_api(request, gateway)
    if api is None or (view.aws_api_gateway_id and api[0] != view.aws_api_gateway_id):
        return view.missing_headers(request, *args, **kwargs)
    if not origin_is_allowed(request.headers.get("Origin")):
        return HttpResponseForbidden("This origin may not connect")
    asked = request.GET.get(ws_setting("CHANNEL_QUERY_PARAM"))
    try:
        channel = clean_channel(asked)  # before the token is spent, as the reference did
    except WsError:
        return HttpResponseBadRequest("Invalid channel")
    if channel and not view._is_valid_channel_name(channel):
        return HttpResponseBadRequest("Invalid channel")
    if not channel and gateway is not None and gateway.default_channel_name:
        channel = gateway.default_channel_name
    refused = missing_token_response(view, request)
    if refused is not None:
        return refused
    try:
        user = authenticate_connect(request)  # spends the token, if any
    except WsError as error:
        return _refusal(error)
    try:
        ids, channels = (connection_id, *api), (channel, asked)
        response = _open(view, gateway, request, ids, user, channels, (args, kwargs))
    except BaseException:
        _give_token_back(request)
        raise
    if response is not None:
        _give_token_back(request)
        return response
    return JsonResponse({})


def _give_token_back(request: HttpRequest) -> None:
    spent = getattr(request, "ws_spent_token", None)
    if spent is not None:
        spent.restore()


def _open(
    view: Any,
    gateway: ApiGateway | None,
    request: HttpRequest,
    ids: tuple[str, str, str],
    user: Any,
    channels: tuple[str, str | None],
    call: tuple[tuple[Any, ...], dict[str, Any]],
) -> HttpResponseBase | None:
    """Authorise the user and the channel, then save the session; the refusal, or ``None``.

    ``ids`` is (connection id, api id, stage), ``channels`` (the channel, the one asked for),
    ``call`` the hook's ``(args, kwargs)``."""
    (connection_id, api_id, stage), (channel, asked), (args, kwargs) = ids, channels, call
    if ws_setting("CONNECT_LOGIN_REQUIRED") and not user.is_authenticated:
        return HttpResponse("Log in to connect", status=401)
    request.user = user
    if asked:  # the configured default is trusted, as on the gateway's connect
        try:  # a name another router's rule guards is judged by that rule
            authorise_guarded(request, channel)
        except WsError:
            return view.permission_denied(request, *args, **kwargs)
    refused = view._connect_refusal(request, channel, *args, **kwargs)
    if refused is not None:
        return refused
    session = connected_session(
        (connection_id, api_id, stage),
        user,
        channel,
        _source_ip(request),
        login_binding(user),
        gateway.pk if gateway is not None else None,
    )
    save_connected_session(session)
    if session.pk is None:  # Django < 5.0 returns no key from an upsert: read it, as the
        # reference's saved session had one (the gateway path never needs it)
        session.pk = (
            WebSocketSession.objects.filter(connection_id=connection_id)
            .values_list("pk", flat=True)
            .first()
        )
    channel_connect.subscribe_connected(session)
    view.websocket_session = ws_request(request).websocket_session = session
    if gateway is not None:
        view.api_gateway = gateway
    return None


def load_named_session(view: Any, gateway: ApiGateway | None, request: HttpRequest) -> bool:
    """Load the open session the request names (of ``gateway`` if given) with the message's
    one query, and act as its bound user (anonymous after a password change); ``False``
    when no open session has that id."""
    connection_id = named_connection_id(request)
    session = open_session_query.get(connection_id) if connection_id else None
    if session is None or (gateway is not None and session.api_gateway_id != gateway.pk):
        return False
    view.websocket_session = ws_request(request).websocket_session = session
    request.user = bound_user(session) or AnonymousUser()
    return True


def dispatch_bare(
    view: Any, gateway: ApiGateway | None, request: HttpRequest, *args: Any, **kwargs: Any
) -> Any:
    """The reference's dispatch of a message on a bare view: the named open session loaded,
    then the handler, logged and mailed about (``SEND_EXCEPTION_MAIL``) if it fails."""
    keys = (view.handler_selection_key, view.route_selection_key)
    if not any(key in view.body for key in keys):
        return view.handler_selection_key_missing(request, *args, **kwargs)
    if not load_named_session(view, gateway, request):
        return view.session_not_found(request, *args, **kwargs)
    try:
        return view._guarded(view._dispatch_message, request, *args, **kwargs)
    except (WsError, PermissionDenied):
        raise
    except Exception:
        logger.exception("%s.dispatch failed", type(view).__name__)
        raise
