"""The reference package's documented WebSocketView usage, against ours (issue 13, item 1).

The views are in tests/reference_compat_urls.py, routed as the reference routes them
(``<prefix>/<slug:route>``); events come through FakeGateway with our header contract.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import FakeGateway, new_connection_id
from tests.reference_compat_urls import ChatWebSocketView, HookView, RoomView
from ws_routes.compat import exception_mail
from ws_routes.errors import RouteConfigurationError, WsError
from ws_routes.models import ApiGateway, ConnectToken, Subscription, WebSocketSession
from ws_routes.views import WebSocketView

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.reference_compat_urls")]


def gw(client, prefix: str, slug: str = "default") -> FakeGateway:
    return FakeGateway(client, path=f"/{prefix}/{slug}")


def body(response) -> object:
    return json.loads(response.content) if response.content else None


def grant(user, *codenames: str) -> None:
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))


# -- what a client may call ---------------------------------------------------------------------


def test_hooks_are_never_routes_and_never_selectable(client):
    names = HookView.allowed_handlers()
    assert names == {"default", "hello"}
    assert HookView.route_names() == ["hello"]
    g = gw(client, "hooks")
    cid = g.connect().connection_id
    for hook in (
        "connect",
        "disconnect",
        "setup",
        "dispatch",
        "can_join_channel",
        "get_channel_permission",
        "has_any_permission",
        "has_all_permission",
        "_additional_connection_checks",
        "as_view",
        "permission_denied",
    ):
        for key in ("handler", "action"):
            HookView.calls.clear()
            response = g.message(cid, {key: hook})
            # default is not overridden: the base answers unknown_route, no hook ran as a route
            assert response.status_code == 400, hook
            assert body(response)["error"]["code"] == "unknown_route"
            assert not any(c.startswith(hook) for c in HookView.calls[2:]), (hook, HookView.calls)
    assert WebSocketSession.objects.get(connection_id=cid).connected


def test_allowed_handlers_only_and_handler_key_first(client, alice):
    grant(alice, "view_user")
    client.force_login(alice)
    g = gw(client, "chat")
    cid = g.connect().connection_id
    assert body(g.message(cid, {"handler": "send_message"}))["handler"] == "send_message"
    # the handler key is tried first, action is the fallback
    both = {"handler": "fetch_history", "action": "send_message"}
    assert body(g.message(cid, both))["handler"] == "fetch_history"
    bad_handler = {"handler": "unlisted", "action": "send_message"}
    assert body(g.message(cid, bad_handler))["handler"] == "send_message"
    for name in ("unlisted", "_internal_helper", "__init__", "connect", "dispatch"):
        assert body(g.message(cid, {"handler": name}))["handler"] == "default", name
    missing = g.message(cid, {"text": "no selection key"})
    assert (missing.status_code, missing.content) == (400, b"Invalid request format (1)")


def test_permissions_required_any_is_enforced(client, alice, bob):
    grant(alice, "view_user")
    for user, status in ((alice, 200), (bob, 403)):
        client.force_login(user)
        g = gw(client, "chat")
        cid = g.connect().connection_id
        response = g.message(cid, {"handler": "send_message"})
        assert response.status_code == status
        if status == 403:
            assert response.content == b"Permission Denied"
    anonymous = gw(client.__class__(), "chat")
    cid = anonymous.connect().connection_id
    assert anonymous.message(cid, {"action": "default"}).status_code == 403


def test_all_permissions_required_needs_every_one(client, alice):
    client.force_login(alice)
    g = gw(client, "allperms")
    cid = g.connect().connection_id
    grant(alice, "view_user")
    assert g.message(cid, {"action": "default"}).status_code == 403
    grant(alice, "change_user")
    from django.core.cache import cache

    cache.clear()  # the permission set is cached PERMISSION_CACHE_SECONDS
    assert g.message(cid, {"action": "default"}).status_code == 200


def test_hooks_run_in_order_and_none_answers_empty_object(client):
    HookView.calls.clear()
    g = gw(client, "hooks", "connect")
    cid = g.connect(query="channel=room-1").connection_id
    assert HookView.calls == [
        "setup:connect",
        "dispatch",
        "connect",
        "can_join_channel:room-1",
        "get_channel_permission",
        "_additional_connection_checks",
    ]
    HookView.calls.clear()
    response = gw(client, "hooks").message(cid, {"action": "hello", "n": 3})
    assert (response.status_code, body(response)) == (200, {})
    assert HookView.calls == ["setup:default", "dispatch", "hello:3"]
    HookView.calls.clear()
    gw(client, "hooks", "disconnect").disconnect(cid)
    assert HookView.calls == ["setup:disconnect", "dispatch", "disconnect"]
    assert not WebSocketSession.objects.get(connection_id=cid).connected


def test_connect_refusals_write_nothing(client):
    g = gw(client, "hooks")
    refused = g.connect(query="channel=forbidden")
    assert refused.status_code == 403
    cert = g.connect(query="channel=needs-cert")
    assert cert.status_code == 400
    assert "Certificate required" in body(cert)["error"]["message"]
    bad = g.connect(query="channel=has.dot")  # our pattern allows '.', the view's does not
    assert bad.status_code == 400
    assert WebSocketSession.objects.count() == 0


def test_use_ws_token_refuses_anonymous_and_unmapped_ws_token(client, alice):
    g = gw(client, "example")
    assert g.connect().status_code == 400
    unmapped = g.connect(query="ws_token=whatever")
    assert unmapped.status_code == 400
    assert "TOKEN_QUERY_PARAM" in body(unmapped)["error"]["message"]
    assert g.connect(query="token=" + "x" * 40).status_code == 401
    good = g.connect(query="token=" + ConnectToken.mint(alice))
    assert good.status_code == 200
    assert WebSocketSession.objects.get().user == alice


def test_ws_token_works_when_mapped(client, alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_QUERY_PARAM": "ws_token"}
    g = gw(client, "example")
    assert g.connect(query="ws_token=" + ConnectToken.mint(alice)).status_code == 200
    assert WebSocketSession.objects.get().user == alice


def test_readme_example_sends_and_answers(client, alice, captured_sends):
    g = gw(client, "example")
    cid = g.connect(query="token=" + ConnectToken.mint(alice)).connection_id
    response = g.message(cid, {"action": "default", "message": "Hello from the browser"})
    assert body(response) == {"ok": True}
    assert captured_sends == [(cid, {"type": "reply", "message": "Hello from Django"})]


# -- channels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "who", "allowed"),
    [
        ("lobby", None, True),
        ("staff", None, False),
        ("staff", "staff", True),
        ("admins", "staff", False),
        ("admins", "superuser", True),
        ("editors", "plain", False),
        ("editors", "adder", True),
        ("editors", "viewer", False),
        ("editors", "viewer+changer", True),
        ("unlisted", "superuser", False),  # ALLOW_UNLISTED_CHANNELS = False
        ("", None, False),  # an empty channel has no rule either
        ("notifications_user_{pk}", "plain", True),
        ("notifications_user_0", "plain", False),
    ],
)
def test_channel_rules_on_connect(client, django_user_model, channel, who, allowed):
    user = None
    if who:
        user = django_user_model.objects.create_user(
            who, is_staff=who == "staff", is_superuser=who == "superuser"
        )
        codenames = {"adder": ["add_user"], "viewer": ["view_user"]}.get(who, [])
        codenames += ["view_user", "change_user"] if who == "viewer+changer" else []
        grant(user, *codenames)
        client.force_login(user)
    channel = channel.format(pk=user.pk if user else 0)
    response = gw(client, "rooms").connect(query=f"channel={channel}" if channel else "")
    assert (response.status_code == 200) is allowed, response.content
    assert WebSocketSession.objects.filter(channel_name=channel).exists() is allowed


def test_change_channel_moves_the_session_and_checks_rules(client, django_user_model):
    staff = django_user_model.objects.create_user("s", is_staff=True)
    client.force_login(staff)
    g = gw(client, "rooms")
    cid = g.connect(query="channel=lobby").connection_id
    answer = body(g.message(cid, {"action": "change_channel", "channel": "staff"}))
    assert answer == {"ok": True, "type": "channel_changed", "channel": "staff"}
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "staff"
    # the subscriptions follow: off the old channel, onto the new one
    assert list(
        Subscription.objects.filter(session__connection_id=cid).values_list("channel", flat=True)
    ) == ["staff"]
    assert g.message(cid, {"action": "change_channel", "channel": "admins"}).status_code == 403
    for bad in ("x" * 129, "a b", 5, None, ["lobby"], {"$ne": 1}, "lobby\n"):
        response = g.message(cid, {"action": "change_channel", "channel": bad})
        assert (response.status_code, response.content) == (400, b"Invalid channel"), bad
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "staff"
    assert Subscription.objects.filter(session__connection_id=cid).count() == 1


def test_change_channel_is_not_callable_unless_the_class_defines_it(client):
    g = gw(client, "hooks")
    cid = g.connect(query="channel=a").connection_id
    response = g.message(cid, {"action": "change_channel", "channel": "b"})
    assert body(response)["error"]["code"] == "unknown_route"
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "a"


def test_change_channel_races_a_disconnect_without_reopening(client):
    g = gw(client, "rooms")
    cid = g.connect(query="channel=lobby").connection_id
    session = WebSocketSession.objects.get(connection_id=cid)
    WebSocketSession.objects.filter(pk=session.pk).update(connected=False)
    from ws_routes.compat.channel_subscription import move_to_channel

    # A stale copy that still says connected=True: the closed socket is not subscribed, nor
    # reopened, nor moved (the subscription is refused first, as for any closed socket).
    with pytest.raises(WsError) as refused:
        move_to_channel(session, "staff")
    assert refused.value.status == 410
    session.refresh_from_db()
    assert (session.channel_name, session.connected) == ("lobby", False)
    assert not Subscription.objects.filter(session=session, channel="staff").exists()


def test_default_channel_name_kwargs_and_api_gateway(client, alice):
    ApiGateway.objects.create(api_name="chat", api_id="abc123", default_channel_name="lobby")
    client.force_login(alice)
    g = gw(client, "rooms")
    cid = g.connect().connection_id
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "lobby"
    with CaptureQueriesContext(connection) as queries:
        answer = body(g.message(cid, {"handler": "whoami"}))
    assert answer == {"user": "alice", "channel": "lobby", "gateway": "chat", "route": "default"}
    assert len([q for q in queries if "session" in q["sql"].lower()]) >= 1


def test_a_message_stays_at_one_query_when_api_gateway_is_unused(client):
    g = gw(client, "hooks")
    cid = g.connect().connection_id
    with CaptureQueriesContext(connection) as queries:
        g.message(cid, {"action": "hello"})
    assert len(queries) == 1


def test_pinned_aws_api_gateway_id(client):
    class Pinned(WebSocketView):
        USE_WS_TOKEN = False
        aws_api_gateway_id = "other99"

    view = Pinned.as_view()
    g = FakeGateway(client)
    from django.test import RequestFactory

    request = RequestFactory().post(
        "/x/connect", b"", content_type="", **g.headers("CONNECT", new_connection_id(), "$connect")
    )
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    assert view(request, route="connect").status_code == 400
    assert WebSocketSession.objects.count() == 0


def test_exception_mails_admins_once_per_interval(client, settings):
    settings.ADMINS = [("Admin", "admin@example.com")]
    exception_mail.forget()
    g = gw(client, "broken")
    cid = g.connect().connection_id
    for _ in range(3):
        response = g.message(cid, {"action": "boom"})
        assert response.status_code == 500
        assert body(response)["error"]["code"] == "internal_error"
    ours = [m for m in mail.outbox if "Unexpected Websocket Exception" in m.subject]
    assert len(ours) == 1  # (Django's own AdminEmailHandler mails each 500 too)
    assert "handler bug" in ours[0].body


def test_listing_a_hook_in_allowed_handlers_fails_at_import():
    class Bad(WebSocketView):
        ALLOWED_HANDLERS = {"default", "connect"}

    with pytest.raises(RouteConfigurationError, match="connect"):
        Bad.as_view()

    class Private(WebSocketView):
        ADDITIONAL_ALLOWED_HANDLERS = ["_secret"]

    with pytest.raises(RouteConfigurationError, match="_secret"):
        Private.as_view()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"handler": {"x": 1}}',
        b'{"handler": 12345}',
        b'{"action": ["change_channel"]}',
        b'{"handler": "' + b"a" * 5000 + b'"}',
        b'{"handler": "send_message", "action": null}',
        b"{" * 100000,
    ],
)
def test_hostile_messages_get_a_clear_error_and_change_nothing(client, alice, raw):
    grant(alice, "view_user")
    client.force_login(alice)
    g = gw(client, "chat")
    cid = g.connect().connection_id
    response = g.message(cid, raw)
    assert response.status_code in (200, 400, 413)
    if response.status_code == 200:
        assert body(response)["handler"] in ("default", "send_message")
    assert WebSocketSession.objects.get(connection_id=cid).connected


@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_and_channel_changes(live_server, django_user_model):
    """Threads share one class: every instance is fresh, so no state leaks between requests."""
    from django.test import Client

    staff = django_user_model.objects.create_user("s", is_staff=True)
    results: list[tuple[str, object]] = []

    def worker(i: int) -> None:
        c = Client()
        c.force_login(staff)
        g = gw(c, "rooms")
        cid = g.connect(query="channel=lobby").connection_id
        target = "staff" if i % 2 else "lobby"
        answer = body(g.message(cid, {"action": "change_channel", "channel": target}))
        results.append((cid, answer))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    for cid, answer in results:
        assert WebSocketSession.objects.get(connection_id=cid).channel_name == answer["channel"]


def test_room_view_routes_for_syncroutes():
    assert RoomView.route_names() == ["change_channel", "whoami"]
    assert ChatWebSocketView.route_names() == ["fetch_history", "send_message"]


def test_a_call_through_an_old_integration_says_to_run_syncroutes(client):
    """The reference's integrations send Connectionid and no secret: 403, naming the fix."""
    response = client.post(
        "/rooms/connect",
        b"",
        content_type="",
        HTTP_CONNECTIONID="Abc123=",
        HTTP_X_AMZN_APIGATEWAY_API_ID="abc123",
        HTTP_USER_AGENT="AmazonAPIGateway_abc123",
    )
    assert response.status_code == 403
    assert "syncroutes" in body(response)["error"]["message"]
    forged = client.post("/rooms/default", b"{}", content_type="application/json")
    assert forged.status_code == 403  # no Connectionid either: the core's generic refusal
    assert "syncroutes" not in forged.content.decode()
    assert WebSocketSession.objects.count() == 0


def test_change_channel_refreshes_updated_on(client, django_user_model):
    """The reference's change_channel saves ``updated_on`` with the channel (issue 23 item 2)."""
    staff = django_user_model.objects.create_user("u", is_staff=True)
    client.force_login(staff)
    g = gw(client, "rooms")
    cid = g.connect(query="channel=lobby").connection_id
    long_ago = WebSocketSession.objects.get(connection_id=cid).updated_on.replace(year=2001)
    WebSocketSession.objects.filter(connection_id=cid).update(updated_on=long_ago)
    assert g.message(cid, {"action": "change_channel", "channel": "staff"}).status_code == 200
    row = WebSocketSession.objects.get(connection_id=cid)
    assert (row.channel_name, row.updated_on > long_ago) == ("staff", True)


def test_a_route_reads_as_its_name_as_the_reference_shows_it():
    """ApiGatewayAdditionalRoute.__str__ is its name (the reference's admin lists it so)."""
    from ws_routes.models import GatewayRoute

    assert str(GatewayRoute(name="My Test", route_key="chat")) == "My Test"
    assert str(GatewayRoute(route_key="chat")) == "chat"


def test_disconnect_called_on_a_bare_view_closes_the_named_session(rf):
    """As the reference's hook did when a project's own test calls it directly (issue 23)."""
    mine = ApiGateway.objects.create(api_name="m", api_id="m1", target_base_endpoint="https://a.b/")
    other = ApiGateway.objects.create(
        api_name="o", api_id="o1", target_base_endpoint="https://a.b/"
    )
    WebSocketSession.objects.create(connection_id="Mine1=", api_gateway=mine)
    WebSocketSession.objects.create(connection_id="Theirs=", api_gateway=other)
    WebSocketSession.objects.create(connection_id="Ours2=", api_gateway=mine)

    def call(view: WebSocketView, **meta: str) -> None:
        assert view.disconnect(rf.post("/", **meta)) is None

    def refused(view: WebSocketView, **meta: str) -> None:
        response = view.disconnect(rf.post("/", **meta))
        assert (response.status_code, response.content) == (400, b"Invalid connection ID")

    refused(WebSocketView(api_gateway=mine), HTTP_CONNECTIONID="Theirs=")  # another gateway's
    refused(WebSocketView(api_gateway=mine), HTTP_CONNECTIONID="Mine1= OR 1=1")  # not an id
    refused(WebSocketView(api_gateway=mine))  # no id at all
    assert WebSocketSession.objects.filter(connected=True).count() == 3
    call(WebSocketView(api_gateway=mine), HTTP_CONNECTIONID="Mine1=")
    call(WebSocketView(), HTTP_X_WS_CONNECTION_ID="Ours2=")
    closed = WebSocketSession.objects.filter(connected=False)
    assert sorted(closed.values_list("connection_id", flat=True)) == ["Mine1=", "Ours2="]
    assert all(s.disconnected_at for s in closed)
    refused(WebSocketView(api_gateway=mine), HTTP_CONNECTIONID="Mine1=")  # closed already
