"""The registry: what registers, what fails at import and how the error says to fix it."""

from __future__ import annotations

import re

import pytest
from django.urls import include, path, resolve, reverse
from django.urls.resolvers import URLResolver

from ws_routes import Route, RouteConfigurationError, Router, WsError, router, ws_route


def handler(request, body):
    return body


def test_decorator_returns_function_unchanged():
    r = Router()

    def f(request, body):
        return 1

    assert r.route("a")(f) is f
    assert r.routes["a"].handler is f
    assert f(None, None) == 1


def test_route_records_options_and_compiles_schema_once():
    r = Router()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    r.route("calc.add", schema=schema, permission="app.add_thing", gateway_validation=True)(handler)
    route = r.routes["calc.add"]
    assert isinstance(route, Route)
    assert route.schema == schema and route.permission == "app.add_thing"
    assert route.login_required is True  # a permission implies a login
    assert route.gateway_validation is True
    assert route.validator.is_valid({"n": 1}) and not route.validator.is_valid({"n": "x"})


@pytest.mark.parametrize(
    "key", ["", "$connect", "$default", "has space", "a" * 129, "ü", None, 5, "-x", "a\nb"]
)
def test_invalid_key_fails_at_registration(key):
    with pytest.raises(RouteConfigurationError, match="Invalid route key"):
        Router().route(key)(handler)


@pytest.mark.parametrize("key", ["a", "chat.send", "Room_1:join", "v2/items-list", "a" * 128])
def test_valid_keys(key):
    r = Router()
    r.route(key)(handler)
    assert key in r


def test_invalid_schema_names_route_and_path():
    with pytest.raises(RouteConfigurationError, match=r"Route 'x': invalid JSON Schema at"):
        Router().route("x", schema={"type": "object", "properties": {"a": {"type": "nope"}}})(
            handler
        )


def test_schema_must_be_a_dict():
    with pytest.raises(RouteConfigurationError, match="schema must be a dict"):
        Router().route("x", schema='{"type": "object"}')(handler)


def test_gateway_validation_needs_schema():
    with pytest.raises(RouteConfigurationError, match="needs a schema"):
        Router().route("x", gateway_validation=True)(handler)


def test_duplicate_key_names_both_handlers():
    r = Router()
    r.route("dup")(handler)

    def other(request, body):
        pass

    with pytest.raises(RouteConfigurationError, match=r"Duplicate route key 'dup'.*handler.*other"):
        r.route("dup")(other)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: None,
        lambda request: None,
        lambda request, body, extra: None,
        lambda *, request, body: None,
    ],
)
def test_handler_signature_checked_at_registration(bad):
    with pytest.raises(
        RouteConfigurationError, match=r"cannot be called as handler\(request, body\)"
    ):
        Router().route("x")(bad)


def test_flexible_signatures_are_accepted():
    r = Router()
    r.route("a")(lambda request, body, extra=None: None)
    r.route("b")(lambda *args: None)
    assert set(r.routes) == {"a", "b"}


def test_non_callable_is_refused():
    with pytest.raises(RouteConfigurationError, match="not callable"):
        Router().add_route("x", "not a function")


def test_bad_permission_string():
    with pytest.raises(RouteConfigurationError, match="app_label"):
        Router().route("x", permission="nodot")(handler)


def test_async_handlers_are_recognised():
    r = Router()

    @r.route("a")
    async def a(request, body):
        return 1

    assert r.routes["a"].is_async


def test_urls_is_a_two_tuple_for_include_and_namespaces():
    r = Router(app_name="chat")
    r.route("x")(handler)
    patterns, app_name = r.urls
    assert app_name == "chat"
    resolver = path("ws/", include(r.urls, namespace="chat-eu"))
    assert isinstance(resolver, URLResolver)
    assert resolver.namespace == "chat-eu" and resolver.app_name == "chat"


def test_registration_after_urls_fails_with_how_to_fix():
    r = Router()
    r.urls  # noqa: B018
    with pytest.raises(RouteConfigurationError, match=r"frozen.*ws\.py"):
        r.route("late")(handler)
    with pytest.raises(RouteConfigurationError, match="frozen"):
        r.on_connect(lambda request: None)
    with pytest.raises(RouteConfigurationError, match="frozen"):
        r.default(handler)


def test_view_knows_its_router_and_is_cached():
    r = Router()
    assert r.view is r.view
    assert r.view.ws_router is r
    assert getattr(r.view, "csrf_exempt", False)


def test_default_router_is_mounted_and_autodiscovered():
    assert resolve("/ws/").func.ws_router is router
    assert reverse("ws_routes:gateway") == "/ws/"
    assert reverse("ws_routes:token") == "/ws/token/"
    # tests/testapp/ws.py was imported by autodiscovery at startup
    assert {"echo", "chat.send", "boom"} <= set(router.routes)
    assert ws_route  # the decorator that registered them


def test_ws_route_can_target_another_router():
    r = Router()
    ws_route("elsewhere", router=r)(handler)
    assert "elsewhere" in r and "elsewhere" not in router


def test_default_handler_bare_and_with_options():
    r = Router()
    r.default(handler)
    assert r.resolve("anything").handler is handler
    assert r.resolve(None).handler is handler
    assert r.resolve(["not", "hashable"]).handler is handler
    with pytest.raises(RouteConfigurationError, match="already has a default"):
        r.default(handler)
    r2 = Router()
    r2.default(login_required=True)(handler)
    assert r2.default_route.login_required


def test_include_prefixes_keys_and_merges_hooks():
    chat = Router()
    chat.route("send")(handler)
    hook = chat.on_connect(lambda request: None)
    main = Router()
    main.include(chat, prefix="chat.")
    assert "chat.send" in main and main.routes["chat.send"].key == "chat.send"
    assert main.connect_hooks == (hook,)
    with pytest.raises(RouteConfigurationError, match="Duplicate route key 'chat.send'"):
        main.include(chat, prefix="chat.")
    with pytest.raises(RouteConfigurationError, match="Invalid route key"):
        Router().include(chat, prefix="$")


def test_hook_signatures_checked():
    with pytest.raises(RouteConfigurationError, match="on_connect hook"):
        Router().on_connect(lambda: None)
    with pytest.raises(RouteConfigurationError, match="on_disconnect hook"):
        Router().on_disconnect(lambda request, extra: None)


def test_ws_error_shape():
    error = WsError("code", "message", {"d": 1}, status=409)
    assert error.as_dict() == {"code": "code", "message": "message", "details": {"d": 1}}
    assert error.status == 409
    assert WsError("only_code").as_dict()["message"] == "only_code"


@pytest.mark.parametrize(
    "schema, feature",
    [
        ({"properties": {"kind": {"const": "a"}}}, "const"),
        ({"$defs": {"x": {}}}, "$defs"),
        ({"if": {}, "then": {}}, "if"),
        ({"prefixItems": [{}]}, "prefixItems"),
    ],
)
def test_gateway_validation_refuses_non_draft4_schema_at_import(schema, feature):
    with pytest.raises(RouteConfigurationError, match=rf"draft 4.*{re.escape(feature)}"):
        Router().route("x", schema=schema, gateway_validation=True)(handler)
    Router().route("x", schema=schema)(handler)  # fine when validated in Django only
