"""``connect()`` and ``dispatch()`` on a bare ``WebSocketView`` (issue 23 item 2).

A project's own tests call the hooks on a view they build, with no session: the reference's
hooks built or loaded it themselves, and ``ws_routes.compat.bare_view`` does the same through
the core's checks. Also the attack side: no HTTP request reaches that path without the core's
secret check, a closed or unknown id loads nothing, and a message acts as the bound user.
SQLite by default; ``DATABASE_URL=postgres://...`` runs the same tests on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.db import connections
from django.http import JsonResponse
from django.test import RequestFactory

from tests.conftest import FakeGateway, new_connection_id
from ws_routes import Router
from ws_routes.compat import exception_mail
from ws_routes.compat.channel_rules import ChannelRule
from ws_routes.models import ApiGateway, ConnectToken, Subscription, WebSocketSession
from ws_routes.security import login_binding
from ws_routes.views import WebSocketView

pytestmark = pytest.mark.django_db

# A channel another router guards (staff only): the bare connect must judge it by that rule.
guarding = Router(app_name="bare_view_guard")  # module level: the channel registry is weak
guarding.add_channel("bguarded", lambda request: request.user.is_staff)

SEEN: list[tuple[str, Any]] = []


class RecordingView(WebSocketView):
    """A reference-style view whose handlers say who they ran as."""

    ALLOWED_HANDLERS = {"default", "whoami", "boom"}

    def whoami(self, request, *args, **kwargs):
        SEEN.append(("whoami", request.user))
        return JsonResponse(
            {"user": request.user.get_username(), "cid": self.websocket_session.connection_id}
        )

    def boom(self, request, *args, **kwargs):
        raise RuntimeError("handler bug")


class RoomsView(WebSocketView):
    ALLOW_UNLISTED_CHANNELS = False
    channel_permissions = {"lobby": ChannelRule.allow_all(), "staff": ChannelRule.staff_only()}


class FussyView(WebSocketView):
    USE_WS_TOKEN = False

    def _additional_connection_checks(self, request, *args, **kwargs):
        return False, "Certificate required"


class SubclassedView(WebSocketView):
    """A subclass whose connect() adds to the reference's, calling super() on a bare view."""

    USE_WS_TOKEN = False

    def connect(self, request, *args, **kwargs):
        response = super().connect(request, *args, **kwargs)
        if response.status_code == 200:  # the saved session is there
            SEEN.append(("connected", self.websocket_session.connection_id))
        return response


@pytest.fixture(autouse=True)
def forget_seen():
    SEEN.clear()
    yield


@pytest.fixture
def gw(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="Bare", api_id="bare1", stage_name="prod", target_base_endpoint="https://a.b/"
    )


def connect_request(cid: str | None = None, query: str = "", user: Any = None, **meta: str):
    headers = {"HTTP_CONNECTIONID": cid or new_connection_id(), **meta}
    request = RequestFactory().post("/" + (f"?{query}" if query else ""), **headers)
    request.user = user or AnonymousUser()
    return request


def message_request(cid: str, body: Any, user: Any = None, **meta: str):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = RequestFactory().post(
        "/", raw, content_type="application/json", HTTP_CONNECTIONID=cid, **meta
    )
    request.user = user or AnonymousUser()
    return request


def bare_dispatch(view: WebSocketView, request) -> Any:
    view.setup(request, route="default")
    return view.dispatch(request, route="default")


def answer(response) -> tuple[int, bytes]:
    return response.status_code, response.content


# -- connect ----------------------------------------------------------------------------------


def test_a_bare_connect_with_a_token_saves_the_bound_session(gw, alice):
    raw = ConnectToken.mint(alice)
    cid = new_connection_id()
    view = WebSocketView(api_gateway=gw)

    response = view.connect(connect_request(cid, f"token={raw}&channel=room-1"), route="connect")

    assert answer(response) == (200, b"{}")
    row = WebSocketSession.objects.get()
    assert (row.connection_id, row.user, row.channel_name, row.connected) == (
        cid,
        alice,
        "room-1",
        True,
    )
    assert (row.api_gateway, row.api_id, row.stage) == (gw, "bare1", "prod")
    assert row.login_binding == login_binding(alice) != ""
    assert view.websocket_session.pk == row.pk and view.api_gateway == gw
    assert ConnectToken.objects.count() == 0  # spent
    assert list(Subscription.objects.values_list("channel", flat=True)) == ["room-1"]


def test_a_bare_connect_without_a_gateway_takes_the_headers_and_finds_the_row(gw, alice):
    cid = new_connection_id()
    view = WebSocketView(USE_WS_TOKEN=False)
    request = connect_request(cid, user=alice, HTTP_X_AMZN_APIGATEWAY_API_ID="bare1")

    assert view.connect(request).status_code == 200

    row = WebSocketSession.objects.get(connection_id=cid)
    assert (row.api_id, row.api_gateway, row.user) == ("bare1", gw, alice)
    request = connect_request(user=alice, HTTP_X_WS_API_ID="bad id!")
    refused = WebSocketView(USE_WS_TOKEN=False).connect(request)
    assert answer(refused) == (400, b"Invalid request headers")
    assert WebSocketSession.objects.count() == 1


def test_a_bare_connect_uses_the_gateways_default_channel(gw):
    gw.default_channel_name = "lobby"
    gw.save()
    view = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False)

    assert view.connect(connect_request()).status_code == 200
    assert WebSocketSession.objects.get().channel_name == "lobby"


@pytest.mark.parametrize(
    "cid", ["bad id", "a" * 129, "x;DROP TABLE", "é", "Mine1= OR 1=1", "a\nb"], ids=repr
)
def test_a_malformed_connection_id_is_400_and_spends_nothing(gw, alice, cid):
    raw = ConnectToken.mint(alice)
    view = WebSocketView(api_gateway=gw)

    response = view.connect(connect_request(cid, f"token={raw}"))

    assert answer(response) == (400, b"Invalid connection ID")
    assert not WebSocketSession.objects.exists()
    assert ConnectToken.spend(raw) is not None  # still unspent


def test_no_connection_id_at_all_is_400(gw):
    request = RequestFactory().post("/")
    request.user = AnonymousUser()
    response = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False).connect(request)
    assert answer(response) == (400, b"Invalid connection ID")
    assert not WebSocketSession.objects.exists()


def test_a_replayed_or_invalid_token_is_refused_and_writes_nothing(gw, alice):
    raw = ConnectToken.mint(alice)
    first = WebSocketView(api_gateway=gw).connect(connect_request(query=f"token={raw}"))
    assert first.status_code == 200

    for query in (f"token={raw}", "token=not-a-token", "token=", "ws_token=x"):
        response = WebSocketView(api_gateway=gw).connect(connect_request(query=query))
        assert response.status_code == 400, query
        assert response.content.startswith(b"Invalid or expired token"), query
    assert WebSocketSession.objects.count() == 1
    hinted = WebSocketView(api_gateway=gw).connect(connect_request(query="ws_token=x"))
    assert b"TOKEN_QUERY_PARAM" in hinted.content  # says which parameter to use


def test_a_cookie_login_needs_an_allowed_origin_as_on_the_gateway(gw, alice):
    view = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False)
    evil = connect_request(user=alice, HTTP_ORIGIN="https://evil.example")
    assert view.connect(evil).status_code == 403
    unlisted = connect_request(user=alice, HTTP_ORIGIN="https://other.example.com")
    assert WebSocketView(api_gateway=gw, USE_WS_TOKEN=False).connect(unlisted).status_code == 403
    assert not WebSocketSession.objects.exists()
    listed = connect_request(user=alice, HTTP_ORIGIN="https://app.example.com")
    assert WebSocketView(api_gateway=gw, USE_WS_TOKEN=False).connect(listed).status_code == 200
    assert WebSocketSession.objects.get().user == alice


def test_login_required_refuses_an_anonymous_bare_connect(gw, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "CONNECT_LOGIN_REQUIRED": True}
    response = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False).connect(connect_request())
    assert response.status_code == 401
    assert not WebSocketSession.objects.exists()


@pytest.mark.parametrize("channel", ["bad channel", "a" * 129, "semi;colon", "croom:x"])
def test_a_malformed_channel_is_400_before_the_token_is_spent(gw, alice, channel):
    raw = ConnectToken.mint(alice)
    view = WebSocketView(api_gateway=gw)
    response = view.connect(connect_request(query=f"token={raw}&channel={channel}"))
    assert answer(response) == (400, b"Invalid channel")
    assert not WebSocketSession.objects.exists()
    assert ConnectToken.objects.count() == 1


def test_a_channel_the_rules_refuse_is_403_and_gives_the_token_back(gw, alice, django_user_model):
    for view_class, channel in (
        (WebSocketView, "bguarded"),
        (RoomsView, "staff"),
        (RoomsView, "x"),
    ):
        raw = ConnectToken.mint(alice)
        view = view_class(api_gateway=gw)
        response = view.connect(connect_request(query=f"token={raw}&channel={channel}"))
        assert answer(response) == (403, b"Permission Denied"), (view_class, channel)
        assert not WebSocketSession.objects.exists()
        assert ConnectToken.spend(raw) is not None  # given back: still usable
    staff = django_user_model.objects.create_user("staffer", password="pw", is_staff=True)
    raw = ConnectToken.mint(staff)
    view = WebSocketView(api_gateway=gw)
    assert view.connect(connect_request(query=f"token={raw}&channel=bguarded")).status_code == 200
    assert WebSocketSession.objects.get().channel_name == "bguarded"


def test_additional_checks_refuse_with_their_message(gw, alice):
    response = FussyView(api_gateway=gw).connect(connect_request(user=alice))
    assert answer(response) == (400, b"Certificate required")
    assert not WebSocketSession.objects.exists()


def test_a_subclass_connect_calling_super_on_a_bare_view(gw):
    cid = new_connection_id()
    assert SubclassedView(api_gateway=gw).connect(connect_request(cid)).status_code == 200
    assert [("connected", cid)] == SEEN


def test_a_second_connect_of_the_same_id_overwrites_the_row(gw, alice, bob):
    cid = new_connection_id()
    for user in (alice, bob):
        view = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False)
        assert view.connect(connect_request(cid, "channel=lobby", user=user)).status_code == 200
    row = WebSocketSession.objects.get()
    assert (row.connection_id, row.user, row.login_binding) == (cid, bob, login_binding(bob))


@pytest.mark.django_db(transaction=True)
def test_concurrent_bare_connects_of_one_id_leave_one_row(django_user_model):
    gateway = ApiGateway.objects.create(
        api_name="Race", api_id="race1", target_base_endpoint="https://a.b/"
    )
    users = [django_user_model.objects.create_user(f"racer{i}", password="pw") for i in range(6)]
    cid = new_connection_id()
    barrier = threading.Barrier(len(users))

    def connect(i: int) -> int:
        barrier.wait()
        try:
            view = WebSocketView(api_gateway=gateway, USE_WS_TOKEN=False)
            return view.connect(connect_request(cid, "channel=race", user=users[i])).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(users)) as pool:
        statuses = list(pool.map(connect, range(len(users))))

    assert statuses == [200] * len(users)
    row = WebSocketSession.objects.get(connection_id=cid)
    assert row.user in users and row.login_binding == login_binding(row.user)
    assert Subscription.objects.filter(session=row, channel="race").count() == 1


# -- dispatch -----------------------------------------------------------------------------------


def open_session(gw: ApiGateway, user: Any) -> str:
    cid = new_connection_id()
    view = WebSocketView(api_gateway=gw, USE_WS_TOKEN=False)
    assert view.connect(connect_request(cid, user=user)).status_code == 200
    return cid


def test_a_bare_dispatch_acts_as_the_bound_user(gw, alice, bob):
    cid = open_session(gw, alice)

    response = bare_dispatch(RecordingView(), message_request(cid, {"action": "whoami"}, user=bob))

    assert json.loads(response.content) == {"user": "alice", "cid": cid}  # not request.user
    alice.set_password("changed")
    alice.save()
    response = bare_dispatch(
        RecordingView(), message_request(cid, {"handler": "whoami"}, user=alice)
    )
    assert response.status_code == 200
    assert isinstance(SEEN[-1][1], AnonymousUser)  # a password change ends the login
    WebSocketSession.objects.create(connection_id="Hand1=", user=bob)  # no binding stored
    bare_dispatch(RecordingView(), message_request("Hand1=", {"action": "whoami"}, user=bob))
    assert isinstance(SEEN[-1][1], AnonymousUser)


def test_a_bare_dispatch_loads_only_an_open_session(gw, alice, django_assert_num_queries):
    other = ApiGateway.objects.create(
        api_name="O", api_id="o1", target_base_endpoint="https://a.b/"
    )
    mine, theirs = open_session(gw, alice), open_session(other, alice)
    closed = open_session(gw, alice)
    assert WebSocketView(api_gateway=gw).disconnect(connect_request(closed)) is None

    for view, cid in (
        (RecordingView(), new_connection_id()),  # unknown
        (RecordingView(), closed),
        (RecordingView(api_gateway=gw), theirs),  # another gateway's
        (RecordingView(), "bad id"),
        (RecordingView(), ""),
    ):
        response = bare_dispatch(view, message_request(cid, {"action": "whoami"}))
        assert answer(response) == (400, b"Invalid connection ID"), cid
        assert view.websocket_session is None
    assert SEEN == []
    with django_assert_num_queries(0):  # no selection key: refused before any query
        assert (
            bare_dispatch(RecordingView(), message_request(mine, b"{not json")).status_code == 400
        )
    assert (
        bare_dispatch(
            RecordingView(api_gateway=gw), message_request(mine, {"action": "whoami"})
        ).status_code
        == 200
    )
    assert SEEN[-1][1] == alice


def test_no_http_request_reaches_a_bare_dispatch_without_the_secret(gw, alice, client, settings):
    """The same message that runs on a bare view is refused over HTTP without the secret."""
    cid = open_session(gw, alice)
    assert (
        bare_dispatch(RecordingView(), message_request(cid, {"action": "whoami"})).status_code
        == 200
    )
    SEEN.clear()
    gateway_view = RecordingView.as_view()
    router_view = RecordingView.build_router().view
    body = json.dumps({"action": "whoami"})
    for secret in (
        None,
        "",
        "wrong-secret-0123456789-abcdefghijklmnop",
        settings.GATEWAY_SECRET + "x",
    ):
        meta = {
            "HTTP_CONNECTIONID": cid,
            "HTTP_X_WS_CONNECTION_ID": cid,
            "HTTP_X_WS_EVENT": "MESSAGE",
        }
        if secret is not None:
            meta["HTTP_X_WS_SECRET"] = secret
        for view in (gateway_view, router_view):
            request = RequestFactory().post("/", body, content_type="application/json", **meta)
            request.user = alice
            assert view(request, route="default").status_code == 403
    # With the secret, an id the core does not know is 410 before any view runs.
    headers = FakeGateway(client).headers("MESSAGE", new_connection_id(), "$default")
    for view in (gateway_view, router_view):
        request = RequestFactory().post("/", body, content_type="application/json", **headers)
        request.user = alice
        assert view(request, route="default").status_code == 410
    assert SEEN == []  # the handler never ran


def test_a_failing_handler_on_a_bare_view_is_logged_mailed_and_raised(gw, alice, settings, caplog):
    settings.ADMINS = [("Admin", "admin@example.com")]
    exception_mail.forget()
    cid = open_session(gw, alice)
    for _ in range(2):
        with caplog.at_level(logging.ERROR, logger="ws_routes"), pytest.raises(RuntimeError):
            bare_dispatch(RecordingView(), message_request(cid, {"action": "boom"}))
    ours = [r.getMessage() for r in caplog.records if r.name == "ws_routes"]
    assert ours == ["RecordingView.dispatch failed"] * 2
    assert len([m for m in mail.outbox if "handler bug" in m.body]) == 1  # once per interval


def test_a_bare_dispatch_enforces_the_views_permissions_for_the_bound_user(gw, alice):
    class GuardedView(RecordingView):
        permissions_required = ["auth.view_user"]

    cid = open_session(gw, alice)
    response = bare_dispatch(GuardedView(), message_request(cid, {"action": "whoami"}, user=alice))
    assert answer(response) == (403, b"Permission Denied")
    assert SEEN == []


def test_a_bare_dispatch_of_disconnect_answers_an_empty_object(gw, alice):
    cid = open_session(gw, alice)
    view = WebSocketView(api_gateway=gw)
    request = connect_request(cid)
    view.setup(request, route="disconnect")
    assert answer(view.dispatch(request, route="disconnect")) == (200, b"{}")
    assert not WebSocketSession.objects.get(connection_id=cid).connected


def test_a_subclass_dispatch_runs_once_on_a_bare_view(gw, alice):
    class CountingView(RecordingView):
        def dispatch(self, request, *args, **kwargs):
            SEEN.append(("dispatch", None))
            return super().dispatch(request, *args, **kwargs)

    cid = open_session(gw, alice)
    assert (
        bare_dispatch(CountingView(), message_request(cid, {"action": "whoami"})).status_code == 200
    )
    assert [name for name, _ in SEEN] == ["dispatch", "whoami"]
