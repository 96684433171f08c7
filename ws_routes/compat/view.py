"""``WebSocketView``: the reference package's class-based API, as an adapter on the same core.

The core (secret check, one session query, connect authentication, rate limit, error replies)
runs first; then the class behaves as the reference's documentation says: ``connect``,
``disconnect``, ``setup``, ``dispatch``, ``can_join_channel``, ``has_*_permission`` and the
other base names are hooks that run as hooks and are never routes; a client may call only the
handlers the reference would dispatch (``ALLOWED_HANDLERS``, else ``default`` plus the plain
methods the class itself defines plus ``ADDITIONAL_ALLOWED_HANDLERS``), chosen by the
``handler`` key first, then ``action``; ``permissions_required`` / ``all_permissions_required``
are enforced; a handler returning nothing answers ``{}``. See docs/migrating.md for the
deliberate differences.

Example::

    class ChatView(WebSocketView):
        permissions_required = ["chat.add_message"]

        def send_text(self, request, *args, **kwargs):
            self.websocket_session.channel_members().send(self.body)

    urlpatterns = [path("ws/<slug:route>", ChatView.as_view())]
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Mapping
from html import escape
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseForbidden,
    JsonResponse,
)

from ..channels.authorise import authorise_guarded
from ..contract import CONNECT, DISCONNECT, EVENT_HEADER, meta_key
from ..errors import RouteConfigurationError, WsError
from ..models import ApiGateway
from ..routing import Router
from ..security import user_has_route_permission
from .bare_view import bare_body, connect_bare, dispatch_bare, missing_token_response
from .channel_rules import ChannelRule
from .channel_subscription import move_to_channel
from .direct_calls import close_named_connection
from .exception_mail import mail_admins_about
from .handler_names import REFERENCE_BASE_NAMES, takes_url_arguments
from .old_integrations import REDEPLOY_MESSAGE, from_an_old_integration

logger = logging.getLogger("ws_routes")

_UNSET: Any = object()


class WebSocketView:
    """The reference's ``WebSocketView`` on the ws_routes core (see the module docstring)."""

    debug = False
    SEND_EXCEPTION_MAIL = True
    EXCEPTION_MAIL_INTERVAL = 60
    MAX_BODY_SIZE = 128 * 1024  # the core's WS_ROUTES["MAX_BODY_BYTES"] applies first
    MAX_CHANNEL_NAME_LENGTH = 128
    CHANNEL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
    ALLOW_UNLISTED_CHANNELS = True
    CHECK_PERMISSIONS_ON_CONNECT = False
    ALLOWED_HANDLERS: set[str] | frozenset[str] = set()
    ADDITIONAL_ALLOWED_HANDLERS: ClassVar[list[str]] = []
    BASE_HANDLERS = frozenset({"default", "change_channel"})
    USE_WS_TOKEN = True
    # Not per view here: WS_ROUTES["CONNECT_RATE_LIMIT"] (cache based). ws_routes.W103 says so.
    RATE_LIMIT_ENABLED = True
    RATE_LIMIT_MAX_ATTEMPTS = 0
    RATE_LIMIT_WINDOW_MINUTES = 0
    route_selection_key = "action"
    handler_selection_key = "handler"
    model = None
    aws_api_gateway_id: str | None = None
    permissions_required: ClassVar[list[str]] = []  # ANY of these
    all_permissions_required: ClassVar[list[str]] = []  # ALL of these
    #: ws_routes' counterpart of the reference's ChannelPermission rows: {channel: ChannelRule}.
    channel_permissions: ClassVar[Mapping[str, ChannelRule]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self._api_gateway = kwargs.pop("api_gateway", _UNSET) or _UNSET
        self.websocket_session: Any = kwargs.pop("websocket_session", None) or None
        self.debug = kwargs.pop("debug", type(self).debug)
        self.debug_log: list[str] = []
        for name, value in kwargs.items():
            setattr(self, name, value)
        self.ALLOWED_HANDLERS = set(self.allowed_handlers())
        self.body: dict[str, Any] = {}
        self.request: HttpRequest | None = None
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}

    # -- what a client may call ----------------------------------------------------------------

    @classmethod
    def _hook_names(cls) -> frozenset[str]:
        base = {name for name in dir(WebSocketView) if not name.startswith("_")}
        return frozenset((base | REFERENCE_BASE_NAMES) - cls.BASE_HANDLERS)

    @classmethod
    def _automatic_handlers(cls) -> list[str]:
        """The plain functions this class itself defines, as the reference picks them."""
        hooks = cls._hook_names()
        return [
            name
            for name in vars(cls)
            if not name.startswith("_")
            and name not in hooks
            and inspect.isfunction(getattr(cls, name))
        ]

    @classmethod
    def allowed_handlers(cls) -> frozenset[str]:
        """The names a client may select; hooks and ``_names`` never, even if listed."""
        if cls.ALLOWED_HANDLERS:
            names = set(cls.ALLOWED_HANDLERS)
        else:
            names = {"default", *cls.ADDITIONAL_ALLOWED_HANDLERS, *cls._automatic_handlers()}
        hooks = cls._hook_names()
        bad = sorted(n for n in names if not isinstance(n, str) or n.startswith("_") or n in hooks)
        if bad:
            raise RouteConfigurationError(
                f"{cls.__name__}.ALLOWED_HANDLERS / ADDITIONAL_ALLOWED_HANDLERS list {bad}: "
                "hooks and _private names can never be called by a client. Remove them."
            )
        return frozenset(names)

    @classmethod
    def route_names(cls) -> list[str]:
        """The allowed handlers other than ``default``: the routes ``syncroutes`` deploys."""
        return sorted(
            name
            for name in cls.allowed_handlers() - {"default"}
            if callable(getattr(cls, name, None))
        )

    @classmethod
    def build_router(cls, **initkwargs: Any) -> Router:
        """A ``Router`` whose events run a fresh instance's ``setup`` and ``dispatch``."""
        router = Router(app_name=cls.__name__, route_selection_key=cls.route_selection_key)
        entry = cls._entry(initkwargs)
        for name in cls.route_names():
            router.add_route(name, entry)
        router.default(entry)
        # Every channel the view's CHANNEL_NAME_PATTERN allows: can_join_channel (run by the
        # connect hook and change_channel) decides who joins, as in the reference.
        router.add_channel("{channel}")
        router.on_connect(cls._connect_hook(initkwargs))
        router.on_disconnect(cls._disconnect_hook(initkwargs))
        return router

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        """The gateway view for this class: ``path("ws/<slug:route>", View.as_view())``."""
        gateway_view = cls.build_router(**initkwargs).view

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if from_an_old_integration(request):
                logger.warning(REDEPLOY_MESSAGE)
                return JsonResponse(
                    {"error": {"code": "forbidden", "message": REDEPLOY_MESSAGE, "details": None}},
                    status=403,
                )
            request.ws_url_args = (args, kwargs)  # type: ignore[attr-defined]
            return gateway_view(request, *args, **kwargs)

        view.ws_router = gateway_view.ws_router  # type: ignore[attr-defined]
        view.view_class = cls  # type: ignore[attr-defined]
        view.csrf_exempt = True  # type: ignore[attr-defined]
        return view

    # -- entry points the core calls -----------------------------------------------------------

    @classmethod
    def _instance(cls, request: HttpRequest, initkwargs: Mapping[str, Any]) -> WebSocketView:
        view = cls(**initkwargs)
        url_args: tuple[tuple[Any, ...], dict[str, Any]] = getattr(request, "ws_url_args", ((), {}))
        args, kwargs = url_args
        event = request.META.get(meta_key(EVENT_HEADER), "")
        events: dict[str, str] = {CONNECT: "connect", DISCONNECT: "disconnect"}
        route = events.get(event)
        kwargs = {**kwargs, "route": route or kwargs.get("route") or "default"}
        view.websocket_session = getattr(request, "websocket_session", None)
        view.setup(request, *args, **kwargs)
        return view

    @classmethod
    def _entry(cls, initkwargs: Mapping[str, Any]) -> Callable[[HttpRequest, Any], Any]:
        def websocket_view_message(request: HttpRequest, body: Any) -> Any:
            view = cls._instance(request, initkwargs)
            return view._guarded(view.dispatch, request, *view.args, **view.kwargs)

        websocket_view_message.__qualname__ = f"{cls.__name__}.dispatch"
        return websocket_view_message

    @classmethod
    def _connect_hook(cls, initkwargs: Mapping[str, Any]) -> Callable[[HttpRequest], bool]:
        def websocket_view_connect(request: HttpRequest) -> bool:
            view = cls._instance(request, initkwargs)
            response = view._guarded(view.dispatch, request, *view.args, **view.kwargs)
            if isinstance(response, HttpResponseBase) and response.status_code >= 300:
                text = (
                    response.content.decode("utf-8", "replace")[:200]
                    if hasattr(response, "content")
                    else ""
                )
                raise WsError("connection_refused", text or "Refused", status=response.status_code)
            return response is not False

        websocket_view_connect.__qualname__ = f"{cls.__name__}.connect"
        return websocket_view_connect

    @classmethod
    def _disconnect_hook(cls, initkwargs: Mapping[str, Any]) -> Callable[[HttpRequest], None]:
        def websocket_view_disconnect(request: HttpRequest) -> None:
            view = cls._instance(request, initkwargs)
            view._guarded(view.dispatch, request, *view.args, **view.kwargs)

        websocket_view_disconnect.__qualname__ = f"{cls.__name__}.disconnect"
        return websocket_view_disconnect

    def _guarded(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn``; mail the admins (at most once per interval) if it fails unexpectedly."""
        try:
            return fn(*args, **kwargs)
        except (WsError, PermissionDenied):
            raise
        except Exception as error:
            if self.SEND_EXCEPTION_MAIL:
                mail_admins_about(type(self), error, self.EXCEPTION_MAIL_INTERVAL)
            raise

    # -- hooks (override them; call super() to keep the defaults) ------------------------------

    @property
    def api_gateway(self) -> ApiGateway | None:
        """The registered ``ApiGateway`` of this connection (one query, on first use only)."""
        if self._api_gateway is _UNSET:
            session = self.websocket_session
            api_id = getattr(session, "api_id", "") if session is not None else ""
            self._api_gateway = (
                ApiGateway.objects.filter(api_id=api_id).order_by("pk").first() if api_id else None
            )
        return self._api_gateway

    @api_gateway.setter
    def api_gateway(self, value: ApiGateway | None) -> None:
        self._api_gateway = value

    def _given_gateway(self) -> ApiGateway | None:
        """The gateway given to a bare view (``api_gateway=`` or set), else ``None``."""
        return None if self._api_gateway is _UNSET else self._api_gateway

    def _debug(self, msg: str) -> None:
        if self.debug:
            self.debug_log.append(escape(str(msg)[:500]))
        logger.debug("%s: %s", type(self).__name__, str(msg)[:500])

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        """Set ``request``, ``args``, ``kwargs`` and ``body`` (the message the core parsed)."""
        self.request, self.args, self.kwargs = request, args, kwargs
        message = getattr(request, "ws_message", None)
        if message is None and getattr(request, "websocket_session", None) is None:
            message = bare_body(request, self.MAX_BODY_SIZE)  # a bare view (compat.bare_view)
        self.body = message if isinstance(message, dict) else {}
        self._debug("Setup completed")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Run ``connect``/``disconnect``, or pick the handler as the reference does."""
        route = self.kwargs.get("route")
        if route == "connect":
            return self.connect(request, *args, **kwargs)
        if route == "disconnect":  # what it returns is ignored by the core: {} as the reference
            return self.disconnect(request, *args, **kwargs) or JsonResponse({})
        if self.websocket_session is None:  # a bare view: load the session the request names
            return dispatch_bare(self, self._given_gateway(), request, *args, **kwargs)
        return self._dispatch_message(request, *args, **kwargs)

    def _dispatch_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if self.aws_api_gateway_id and self._api_id() != self.aws_api_gateway_id:
            return self.missing_headers(request, *args, **kwargs)
        keys = (self.handler_selection_key, self.route_selection_key)
        if not any(key in self.body for key in keys):
            return self.handler_selection_key_missing(request, *args, **kwargs)
        handler = self._select_handler()
        if not self._passes_permission_checks(request):
            handler = self.permission_denied
        self._debug(f"dispatching to {getattr(handler, '__name__', handler)}")
        if takes_url_arguments(getattr(handler, "__func__", handler)):
            result = handler(request, *args, **kwargs)
        else:  # def ping(self, request): the seed adapter's shape, kept working
            result = handler(request)
        return result if result else JsonResponse({})

    def _select_handler(self) -> Callable[..., Any]:
        for key in (self.handler_selection_key, self.route_selection_key):
            value = self.body.get(key)
            if value:
                name = str(value)
                if name in self.ALLOWED_HANDLERS and not name.startswith("_"):
                    handler = getattr(self, name, None)
                    if callable(handler):
                        return handler
        return self.default

    def _api_id(self) -> str:
        session = self.websocket_session
        return getattr(session, "api_id", "") if session is not None else ""

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The reference's connect checks the core does not make, then the channel.

        The session (``self.websocket_session``) is saved after this returns a 2xx response.
        Called on a bare view (no session: a project's own tests), it checks, authenticates
        and saves the connect the request names itself, as the reference's did.
        """
        session = self.websocket_session
        if session is None:
            return connect_bare(self, self._given_gateway(), request, *args, **kwargs)
        if self.aws_api_gateway_id and self._api_id() != self.aws_api_gateway_id:
            return self.missing_headers(request, *args, **kwargs)
        channel_name = session.channel_name
        if channel_name and not self._is_valid_channel_name(channel_name):
            return HttpResponseBadRequest("Invalid channel")
        if not channel_name and self.api_gateway and self.api_gateway.default_channel_name:
            channel_name = self.api_gateway.default_channel_name
        refused = missing_token_response(self, request)
        if refused is not None:
            return refused
        refused = self._connect_refusal(request, channel_name, *args, **kwargs)
        if refused is not None:
            return refused
        session.channel_name = channel_name
        return JsonResponse({})

    def _connect_refusal(
        self, request: HttpRequest, channel_name: str, *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        """The view's own connect checks (permissions if asked, ``can_join_channel``,
        ``_additional_connection_checks``): the refusal, or ``None``."""
        if (
            self.CHECK_PERMISSIONS_ON_CONNECT and not self._passes_permission_checks(request)
        ) or not self.can_join_channel(request, channel_name):
            return self.permission_denied(request, *args, **kwargs)
        ok, msg = self._additional_connection_checks(request, *args, **kwargs)
        return None if ok else HttpResponseBadRequest(msg)

    def _additional_connection_checks(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> tuple[bool, str]:
        """Override to refuse a connect: return ``(False, "why")``."""
        return True, ""

    def disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The core has marked the session closed already; override to react.

        Called on a bare view (no session: a project's own tests), it closes the connection the
        request names, or answers ``session_not_found`` (400) for none, as the reference's did."""
        gone = self.websocket_session is None and not close_named_connection(
            request, self._given_gateway()
        )
        if gone:
            return self.session_not_found(request, *args, **kwargs)
        return None

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Override to handle messages that select no allowed handler."""
        raise WsError("unknown_route", "No route for this action")

    def change_channel(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Move this connection to ``body["channel"]`` if ``can_join_channel`` allows it."""
        channel_name = self.body.get("channel")
        if not self._is_valid_channel_name(channel_name):
            return HttpResponseBadRequest("Invalid channel")
        channel = str(channel_name)  # checked above: a str of the allowed shape
        try:  # a name another router's rule guards is judged by that rule, as on connect
            authorise_guarded(request, channel)
        except WsError:
            return self.permission_denied(request, *args, **kwargs)
        if not self.can_join_channel(request, channel):
            return self.permission_denied(request, *args, **kwargs)
        move_to_channel(self.websocket_session, channel)
        return None

    def _is_valid_channel_name(self, channel_name: Any) -> bool:
        return (
            isinstance(channel_name, str)
            and len(channel_name) <= self.MAX_CHANNEL_NAME_LENGTH
            and bool(self.CHANNEL_NAME_PATTERN.fullmatch(channel_name))
        )

    def get_channel_permission(self, channel_name: str) -> ChannelRule | None:
        """The rule for ``channel_name`` from ``channel_permissions``, or ``None``."""
        return self.channel_permissions.get(channel_name)

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:
        """Whether ``request.user`` may be in ``channel_name`` (connect and change_channel)."""
        rule = self.get_channel_permission(channel_name)
        if rule is None:
            return self.ALLOW_UNLISTED_CHANNELS
        return rule.allows(getattr(request, "user", None))

    def _passes_permission_checks(self, request: HttpRequest) -> bool:
        if self.all_permissions_required:
            return self.has_all_permission(request)
        if self.permissions_required:
            return self.has_any_permission(request)
        return True

    def _has(self, request: HttpRequest, permission: str) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return user_has_route_permission(user, permission)  # cached: a message stays 1 query

    def has_any_permission(self, request: HttpRequest) -> bool:
        """``True`` if the user has ANY of ``permissions_required`` (or none are listed)."""
        required = self.permissions_required
        return not required or any(self._has(request, p) for p in required)

    def has_all_permission(self, request: HttpRequest) -> bool:
        """``True`` if the user has ALL of ``all_permissions_required``."""
        return all(self._has(request, p) for p in self.all_permissions_required)

    # -- the reference's answers (override to change them) -------------------------------------

    def permission_denied(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseForbidden("Permission Denied")

    def missing_headers(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseBadRequest("Invalid request headers")

    def session_not_found(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseBadRequest("Invalid connection ID")

    def handler_selection_key_missing(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        self._debug(f"handler_selection_key {self.handler_selection_key} missing")
        return HttpResponseBadRequest("Invalid request format (1)")
