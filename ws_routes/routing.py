"""The route registry: ``Router``, the default ``router`` and its ``ws_route`` decorator.

Everything that can be wrong with a route is found here, at import, not at the first message.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from .channel_rules import ChannelRegistry, ChannelRule, make_rule
from .conf import ws_setting
from .errors import RouteConfigurationError
from .handlers import check_signature as _check_signature
from .handlers import handler_name as _handler_name
from .route import ROUTE_KEY_PATTERN, Route
from .schemas import draft4_problems
from .typed import MessageType, MessageTypes
from .validation import check_body_annotation, compile_body, wants_instance

Handler = TypeVar("Handler", bound=Callable[..., Any])
Hook = TypeVar("Hook", bound=Callable[..., Any])


class Router:
    """A registry of message routes, mounted with ``path("ws/", include(router.urls))``.

    Example::

        router = Router()

        @router.route("chat.send", schema={"type": "object", "required": ["text"]})
        def chat_send(request, body):
            return {"ok": True}

        urlpatterns = [path("ws/", include(router.urls))]
    """

    def __init__(
        self,
        app_name: str = "ws_routes",
        route_selection_key: str | None = None,
        push_type_key: str = "type",
    ) -> None:
        self.app_name = app_name
        self._route_selection_key = route_selection_key
        self._routes: dict[str, Route] = {}
        self._messages = MessageTypes(push_type_key)
        self._default: Route | None = None
        self._connect_hooks: list[Callable[..., Any]] = []
        self._disconnect_hooks: list[Callable[..., Any]] = []
        self._frozen_by: str | None = None
        self._view: Callable[..., Any] | None = None
        self._channels = ChannelRegistry()

    def __repr__(self) -> str:
        return f"<Router {self.app_name!r}: {len(self._routes)} routes>"

    # -- registration ---------------------------------------------------------------------------

    def route(
        self,
        key: str,
        *,
        schema: Any = None,
        login_required: bool = False,
        permission: str | None = None,
        gateway_validation: bool = False,
        reply_schema: Any = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(request, body)`` for messages whose action is ``key``.

        Returns the function unchanged, so tests can call it directly::

            @router.route("ping")
            def ping(request, body):
                return {"pong": True}
        """

        def decorator(handler: Handler) -> Handler:
            self.add_route(
                key,
                handler,
                schema=schema,
                login_required=login_required,
                permission=permission,
                gateway_validation=gateway_validation,
                reply_schema=reply_schema,
            )
            return handler

        return decorator

    def add_route(
        self,
        key: str,
        handler: Callable[..., Any],
        *,
        schema: Any = None,
        login_required: bool = False,
        permission: str | None = None,
        gateway_validation: bool = False,
        reply_schema: Any = None,
    ) -> Route:
        """Register a route without the decorator: ``router.add_route("ping", ping)``."""
        if not isinstance(key, str) or not ROUTE_KEY_PATTERN.fullmatch(key):
            raise RouteConfigurationError(
                f"Invalid route key {key!r}: use 1 to 128 characters from A-Z a-z 0-9 _ . : / -, "
                "not starting with '$' (keys like $connect belong to API Gateway; use "
                "router.on_connect, router.on_disconnect and router.default for those)."
            )
        self._ensure_open(f"route {key!r}")
        existing = self._routes.get(key)
        if existing is not None:
            raise RouteConfigurationError(
                f"Duplicate route key {key!r}: already registered by "
                f"{_handler_name(existing.handler)}; {_handler_name(handler)} cannot take it too."
            )
        if gateway_validation and schema is None:
            raise RouteConfigurationError(
                f"Route {key!r}: gateway_validation=True needs a schema to push to API Gateway."
            )
        route = self._build_route(key, handler, schema, login_required, permission, reply_schema)
        if gateway_validation and route.schema is not None:
            problems = draft4_problems(route.schema)
            if problems:
                raise RouteConfigurationError(
                    f"Route {key!r}: gateway_validation=True but API Gateway models are "
                    "JSON Schema "
                    "draft 4, which cannot express: " + "; ".join(problems) + ". Rewrite those in "
                    "draft 4 terms (const -> enum: [value], $defs -> definitions) or drop "
                    "gateway_validation to validate in Django only."
                )
        self._routes[key] = route = dataclasses.replace(
            route, gateway_validation=gateway_validation
        )
        return route

    def _build_route(
        self,
        key: str,
        handler: Callable[..., Any],
        schema: Mapping[str, Any] | None,
        login_required: bool,
        permission: str | None,
        reply_schema: Any = None,
    ) -> Route:
        _check_signature(handler, f"Route {key!r}", ("request", "body"))
        if permission is not None and (not isinstance(permission, str) or "." not in permission):
            raise RouteConfigurationError(
                f"Route {key!r}: permission must be '<app_label>.<codename>', got {permission!r}."
            )
        validator = compile_body(f"Route {key!r}", schema)
        replies = compile_body(f"Route {key!r} reply_schema", reply_schema, mode="serialization")
        check_body_annotation(f"Route {key!r}", handler, validator)
        return Route(
            key=key,
            handler=handler,
            schema=validator.schema if validator is not None else None,
            login_required=bool(login_required or permission),
            permission=permission,
            validator=validator,
            is_async=inspect.iscoroutinefunction(handler),
            reply_schema=replies.schema if replies is not None else None,
            reply_validator=replies,
            pass_instance=wants_instance(handler, validator),
        )

    def default(
        self,
        handler: Handler | None = None,
        *,
        schema: Any = None,
        login_required: bool = False,
        permission: str | None = None,
        reply_schema: Any = None,
    ) -> Any:
        """Register the handler for messages whose action matches no route (``$default``).

        Usable bare (``@router.default``) or with options
        (``@router.default(login_required=True)``).
        """

        def decorator(fn: Handler) -> Handler:
            self._ensure_open("the default route")
            if self._default is not None:
                raise RouteConfigurationError(
                    f"Router {self.app_name!r} already has a default handler "
                    f"({_handler_name(self._default.handler)})."
                )
            self._default = self._build_route(
                "$default", fn, schema, login_required, permission, reply_schema
            )
            return fn

        return decorator(handler) if handler is not None else decorator

    def message(self, name: str, *, schema: Any, description: str = "") -> MessageType:
        """Declare a server-to-client push: ``{"type": name, ...}`` matching ``schema``.

        ``WsTestClient`` checks pushes against the declarations; the AsyncAPI document lists them::

            router.message("chat.message", schema={"type": "object", "required": ["text"]})
        """
        self._ensure_open(f"message {name!r}")
        return self._messages.declare(name, schema, description)

    def channel(
        self,
        pattern: str,
        *,
        presence: bool = False,
        history: int | Any = None,
        history_age: Any = None,
        before: str | Iterable[str] = (),
        after: str | Iterable[str] = (),
    ) -> Callable[[Handler], Handler]:
        """Register channels matching ``pattern`` and who may join them (see docs/channels.md).

        A pattern that can match a name another rule matches is refused unless ``before=``
        or ``after=`` names that rule. Placeholders become the authoriser's arguments::

            @router.channel("room:{name}", presence=True, history=100)
            def may_join_room(request, name):
                return request.user.is_authenticated
        """

        def decorator(may_join: Handler) -> Handler:
            options = {"presence": presence, "history": history, "history_age": history_age}
            self.add_channel(pattern, may_join, before=before, after=after, **options)
            return may_join

        return decorator

    def add_channel(self, pattern: str, may_join: Any = None, **options: Any) -> ChannelRule:
        """``router.channel`` without the decorator; ``may_join=None`` lets anyone join."""
        self._ensure_open(f"channel {pattern!r}")
        rule = make_rule(pattern, may_join, **options)
        self._channels.add(rule)
        return rule

    @property
    def channel_rules(self) -> tuple[ChannelRule, ...]:
        """The registered channel rules, in the order they are tried."""
        return self._channels.rules

    def match_channel(self, name: Any) -> tuple[ChannelRule, Mapping[str, str]] | None:
        """``(rule, placeholder values)`` for a channel name (``user:{user_id}`` built in)."""
        return self._channels.match(name)

    def on_connect(self, hook: Hook) -> Hook:
        """Run ``hook(request)`` on every connect before the session is saved.

        ``request.user`` and ``request.websocket_session`` (unsaved) are set; raise ``WsError``
        (its ``status``, default 403) or return ``False`` to refuse the connection. The session
        is saved only after the hooks, and API Gateway opens the socket only when the connect
        returns: queries made meanwhile (``chat.who``-style) do not list it yet, and the new
        connection cannot receive pushes until then (AWS answers 410).
        """
        _check_signature(hook, "on_connect hook", ("request",))
        self._ensure_open(f"on_connect hook {_handler_name(hook)}")
        self._connect_hooks.append(hook)
        return hook

    def on_disconnect(self, hook: Hook) -> Hook:
        """Run ``hook(request)`` when a connected session closes (``request.websocket_session``)."""
        _check_signature(hook, "on_disconnect hook", ("request",))
        self._ensure_open(f"on_disconnect hook {_handler_name(hook)}")
        self._disconnect_hooks.append(hook)
        return hook

    def include(self, other: Router, prefix: str = "") -> None:
        """Copy ``other``'s routes (keys prefixed with ``prefix``) and hooks into this router.

        Example: ``router.include(chat_router, prefix="chat.")`` serves ``chat.send``.
        """
        for key, route in other._routes.items():
            new_key = prefix + key
            if not ROUTE_KEY_PATTERN.fullmatch(new_key):
                raise RouteConfigurationError(f"Invalid route key {new_key!r} from include().")
            self._ensure_open(f"route {new_key!r}")
            if new_key in self._routes:
                raise RouteConfigurationError(
                    f"Duplicate route key {new_key!r}: include() of {other!r} collides with "
                    f"{_handler_name(self._routes[new_key].handler)}."
                )
            self._routes[new_key] = dataclasses.replace(route, key=new_key)
        self._messages.merge(other._messages)
        self._connect_hooks.extend(other._connect_hooks)
        self._disconnect_hooks.extend(other._disconnect_hooks)
        for rule in other.channel_rules:
            self._channels.add(rule)

    def _ensure_open(self, what: str) -> None:
        if self._frozen_by is not None:
            raise RouteConfigurationError(
                f"Cannot register {what}: router {self.app_name!r} is frozen because its "
                f"{self._frozen_by} were already read. Register routes at import time, in a ws.py "
                "module of an installed app (autodiscovered at startup) or before the URLconf "
                "includes router.urls."
            )

    # -- lookup ----------------------------------------------------------------------------------

    @property
    def routes(self) -> Mapping[str, Route]:
        """Read-only mapping of route key to ``Route`` (what ``syncroutes`` pushes)."""
        return MappingProxyType(self._routes)

    @property
    def route_selection_key(self) -> str:
        """The body key naming the route: the router's own, else ``ROUTE_SELECTION_KEY``."""
        return self._route_selection_key or ws_setting("ROUTE_SELECTION_KEY")

    @property
    def messages(self) -> MessageTypes:
        """The declared pushes (``router.message``), by name: ``router.messages.get("x")``."""
        return self._messages

    @property
    def default_route(self) -> Route | None:
        return self._default

    @property
    def connect_hooks(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._connect_hooks)

    @property
    def disconnect_hooks(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._disconnect_hooks)

    def resolve(self, key: Any) -> Route | None:
        """The route for an action value, else the default route, else ``None``."""
        route = self._routes.get(key) if isinstance(key, str) else None
        return route if route is not None else self._default

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, key: object) -> bool:
        return key in self._routes

    # -- mounting --------------------------------------------------------------------------------

    def freeze(self, reason: str = "routes") -> None:
        """Refuse further registration (done when ``urls`` or the view is read)."""
        if self._frozen_by is None:
            self._frozen_by = reason

    @property
    def view(self) -> Callable[..., Any]:
        """The one generated view (csrf-exempt) that API Gateway posts every event to."""
        if self._view is None:
            self.freeze("view")
            self._view = _mounted().make_view(self)
        return self._view

    @property
    def urls(self) -> tuple[list[Any], str]:
        """``(urlpatterns, app_name)`` for ``include()``: the gateway view and the token view.

        URL names: ``gateway`` (the integration target) and ``token`` (one-time connect tokens).
        """
        view = self.view
        self.freeze("urls")
        return _mounted().urlpatterns(self, view), self.app_name


class ViewMount(NamedTuple):
    """How a router becomes views and URL patterns (``views.py``, a higher layer, provides it).

    ``ws_routes.apps`` installs it at startup with :func:`mount_views`, so that this module never
    imports the views (they import it).
    """

    make_view: Callable[[Router], Callable[..., Any]]
    urlpatterns: Callable[[Router, Callable[..., Any]], list[Any]]


_view_mount: ViewMount | None = None


def mount_views(mount: ViewMount) -> None:
    """Install how routers build their view and URLs (called once, by ``WsRoutesConfig.ready``)."""
    global _view_mount
    _view_mount = mount


def _mounted() -> ViewMount:
    if _view_mount is None:
        raise RouteConfigurationError(
            "A router's view and urls are built by the ws_routes app: add 'ws_routes' to "
            "INSTALLED_APPS (its AppConfig.ready() installs them)."
        )
    return _view_mount


#: The default router that ``ws_route`` writes to, like ``admin.site``.
router = Router()


def ws_route(
    key: str,
    *,
    schema: Any = None,
    login_required: bool = False,
    permission: str | None = None,
    gateway_validation: bool = False,
    reply_schema: Any = None,
    router: Router | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler on the default ``router`` (or the one given).

    Example (in ``myapp/ws.py``, autodiscovered)::

        @ws_route("chat.send", schema={"type": "object", "required": ["text"]})
        def chat_send(request, body):
            return {"ok": True}
    """
    target = router if router is not None else globals()["router"]
    return target.route(
        key,
        schema=schema,
        login_required=login_required,
        permission=permission,
        gateway_validation=gateway_validation,
        reply_schema=reply_schema,
    )


def autodiscover() -> None:
    """Import the ``ws`` module of every installed app, registering their routes."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("ws")
