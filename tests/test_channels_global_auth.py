"""Issue 19 item 2: channel authorisation is global, as delivery is.

A push to a channel reaches every subscriber whichever router or view they came through, so
the rule guarding a name must judge every socket: a router with
``ALLOW_UNREGISTERED_CHANNELS`` or the reference-compatible view's catch-all must not admit a
name another router's rule guards; and ``channel.subscribe`` must pass the ``on_connect``
hooks that would refuse that channel at connect.
"""

from __future__ import annotations

import pytest

from tests import channel_fixtures  # noqa: F401 - registers croom:{name} (closed: refused)
from tests.conftest import FakeGateway
from tests.reference_compat_urls import RoomView
from ws_routes import Router, WsError
from ws_routes.channels import enable_channel_routes
from ws_routes.models import Subscription, WebSocketSession
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db

loose = Router(app_name="loose_router")  # module level: the channel registry is weak
enable_channel_routes(loose)
# A guarded name the reference view's CHANNEL_NAME_PATTERN allows (no colon): staff only.
loose.add_channel("gsecret", lambda request: request.user.is_staff)

hooked = Router(app_name="hooked_router")
enable_channel_routes(hooked)
hooked.add_channel("hvip")
hooked.add_channel("hopen")


@hooked.on_connect
def no_vip_for_plain_users(request):
    if request.websocket_session.channel_name == "hvip" and not request.user.is_staff:
        return False
    if request.websocket_session.channel_name == "hbanned":
        raise WsError("banned", "Banned channel", status=403)
    return None


hooked.add_channel("hbanned")


@pytest.fixture
def allow_unregistered(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "ALLOW_UNREGISTERED_CHANNELS": True}


def channels_of(connection_id):
    return sorted(
        Subscription.objects.filter(session__connection_id=connection_id).values_list(
            "channel", flat=True
        )
    )


def test_a_router_allowing_unregistered_names_cannot_join_another_routers_guarded_channel(
    allow_unregistered, alice
):
    with WsTestClient(loose) as ws:
        assert ws.connect(user=alice, channel="croom:closed").response.status_code == 403
        assert ws.connect(user=alice, channel="gsecret").response.status_code == 403
        conn = ws.connect(user=alice)
        reply = conn.send("channel.subscribe", {"channel": "croom:closed"}, id="s")
        assert reply.error["code"] == "channel_forbidden"
        # A name no rule of any router matches is still admitted by the setting.
        assert (
            conn.send("channel.subscribe", {"channel": "nobody-guards-this"}, id="t").error is None
        )
        assert channels_of(conn.connection_id) == ["nobody-guards-this"]
        # The user channel of someone else, whichever router.
        reply = conn.send("channel.subscribe", {"channel": "user:999999"}, id="u")
        assert reply.error["code"] == "channel_forbidden"


@pytest.mark.urls("tests.reference_compat_urls")
def test_the_compatible_views_catch_all_does_not_admit_a_guarded_channel(
    client, alice, monkeypatch
):
    monkeypatch.setattr(RoomView, "ALLOW_UNLISTED_CHANNELS", True)
    client.force_login(alice)
    gateway = FakeGateway(client, path="/rooms/default")
    assert gateway.connect(query="channel=gsecret").status_code == 403
    for colon in ("croom:closed", "user:999999"):  # the view's own pattern refuses these
        assert gateway.connect(query=f"channel={colon}").status_code in (400, 403)
    assert not WebSocketSession.objects.exclude(channel_name="")
    cid = gateway.connect(query="channel=lobby").connection_id
    response = gateway.message(cid, {"action": "change_channel", "channel": "gsecret"})
    assert response.status_code == 403
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "lobby"
    # What no other rule guards is still the view's own decision (can_join_channel).
    response = gateway.message(cid, {"action": "change_channel", "channel": "unlisted-room"})
    assert response.status_code == 200


def test_a_channel_the_connect_hooks_refuse_cannot_be_subscribed_after_connecting(
    alice, django_user_model
):
    with WsTestClient(hooked) as ws:
        assert ws.connect(user=alice, channel="hvip").response.status_code == 403
        conn = ws.connect(user=alice, channel="hopen")
        assert conn.accepted
        reply = conn.send("channel.subscribe", {"channel": "hvip"}, id="s")
        assert reply.error["code"] == "channel_forbidden"
        reply = conn.send("channel.subscribe", {"channel": "hbanned"}, id="b")
        assert reply.error["code"] == "banned"
        assert channels_of(conn.connection_id) == ["hopen"]
        # The hook saw the asked channel on a copy: the socket's own session is unchanged.
        assert WebSocketSession.objects.get(connection_id=conn.connection_id).channel_name == (
            "hopen"
        )
        staff = django_user_model.objects.create_user("boss", is_staff=True)
        boss = ws.connect(user=staff)
        assert boss.send("channel.subscribe", {"channel": "hvip"}, id="s").error is None
