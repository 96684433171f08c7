"""Channels: rules and authorisation, subscriptions, presence, history and resume, budgets."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests import channel_fixtures
from ws_routes import Channel, RouteConfigurationError, Router, send_to_user
from ws_routes.channel_rules import compile_pattern, find_channel_rule
from ws_routes.models import ChannelMessage, Subscription, WebSocketSession
from ws_routes.sending import PayloadTooLarge
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def ws():
    with WsTestClient(channel_fixtures.router) as client:
        yield client


def subscribe(conn, channel, **extra):
    return conn.send("channel.subscribe", {"channel": channel, **extra}, id="s")


def channels_of(conn):
    return sorted(
        Subscription.objects.filter(session__connection_id=conn.connection_id).values_list(
            "channel", flat=True
        )
    )


def presence(conn):
    return [
        (p["event"], p["channel"], p["user"]["username"])
        for p in conn.pushed
        if isinstance(p, dict) and p.get("type") == "presence"
    ]


# -- rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["", "x" * 129, None, 5, "room {name}", "room:{name}{name}", "room:{request}", "room/{x}"],
)
def test_bad_patterns_fail_at_registration(pattern):
    with pytest.raises(RouteConfigurationError):
        Router().add_channel(pattern)


def test_authoriser_signature_must_take_the_placeholders():
    router = Router()
    with pytest.raises(RouteConfigurationError, match=r"may_join\(request, name\)"):

        @router.channel("room:{name}")
        def wrong(request, room):
            return True


@pytest.mark.parametrize("history", [0, -1, True, "100", 10**9, 1.5])
def test_bad_history_fails_at_registration(history):
    with pytest.raises(RouteConfigurationError, match="history"):
        Router().add_channel("h:{x}", history=history)


def test_duplicate_pattern_and_registration_after_freeze_fail():
    router = Router()
    router.add_channel("dup:{x}")
    with pytest.raises(RouteConfigurationError, match="Duplicate channel pattern"):
        router.add_channel("dup:{x}")
    router.freeze()
    with pytest.raises(RouteConfigurationError, match="frozen"):
        router.add_channel("late:{x}")


def test_decorator_returns_the_function_and_rules_are_listed_in_order():
    router = Router()

    @router.channel("a:{n}", presence=True, history=10, history_age=60)
    def may_join(request, n):
        return True

    router.add_channel("b")
    assert may_join.__name__ == "may_join"
    assert [rule.pattern for rule in router.channel_rules] == ["a:{n}", "b"]
    rule, values = router.match_channel("a:7")
    assert rule.may_join is may_join and values == {"n": "7"}
    assert rule.presence and rule.history_count == 10 and rule.history_age == timedelta(minutes=1)
    assert router.match_channel("b")[0].pattern == "b"
    assert router.match_channel("user:3")[0].pattern == "user:{user_id}"  # built in
    assert router.match_channel("c") is None


@pytest.mark.parametrize(
    "name", ["croom:a:b", "CROOM:a", "croom:", "croom:a\n", "croom:ü", "croom:a/b", "xcroom:a"]
)
def test_pattern_tricks_do_not_match(name):
    assert channel_fixtures.router.match_channel(name) is None


def test_include_copies_channel_rules():
    inner, outer = Router(), Router()
    inner.add_channel("inc:{x}")
    outer.include(inner)
    assert [r.pattern for r in outer.channel_rules] == ["inc:{x}"]


def test_compile_pattern_escapes_literals():
    matcher, names = compile_pattern("a.b:{x}")
    assert names == ("x",)
    assert matcher.fullmatch("a.b:1") and not matcher.fullmatch("aXb:1")


# -- authorisation ---------------------------------------------------------------------------------


def test_user_channel_is_only_for_that_user(ws, alice, bob):
    assert ws.connect(user=alice, channel=f"user:{alice.pk}").accepted
    for who, name in [
        (bob, f"user:{alice.pk}"),
        (None, f"user:{alice.pk}"),
        (alice, f"user:0{alice.pk}"),
        (alice, f"USER:{alice.pk}"),
        (alice, f"user:{alice.pk}:x"),
    ]:
        conn = ws.connect(user=who, channel=name)
        assert conn.response.status_code == 403, name
        assert json.loads(conn.response.content)["error"]["code"] in {
            "channel_forbidden",
            "channel_not_registered",
        }
    for name in (f"user:{alice.pk} ", f"user:{alice.pk}\n", "user:ü", f"user:{alice.pk}%00"):
        assert ws.connect(user=alice, channel=name).response.status_code == 400
    sessions = WebSocketSession.objects.all()
    assert [s.user for s in sessions] == [alice]
    assert list(Subscription.objects.values_list("channel", flat=True)) == [f"user:{alice.pk}"]


def test_user_channel_bypasses_through_subscribe_and_members(ws, alice, bob):
    mallory = ws.connect(user=bob)
    anonymous = ws.connect()
    for conn in (mallory, anonymous):
        for name in (f"user:{alice.pk}", f"user:{alice.pk}".upper(), f"user:+{alice.pk}"):
            reply = subscribe(conn, name)
            assert reply.status in (400, 403), name
        reply = conn.send("channel.members", {"channel": f"user:{alice.pk}"})
        assert reply.error["code"] == "channel_forbidden"
        reply = conn.send("channel.history", {"channel": f"user:{alice.pk}", "since": 0})
        assert reply.error["code"] == "channel_forbidden"
    assert Subscription.objects.count() == 0
    inactive = alice
    inactive.is_active = False
    inactive.save()
    assert ws.connect(user=inactive, channel=f"user:{alice.pk}").response.status_code == 403


def test_unregistered_channel_is_refused_with_a_hint(ws, alice, settings):
    conn = ws.connect(user=alice, channel="nowhere")
    assert conn.response.status_code == 403
    error = json.loads(conn.response.content)["error"]
    assert error["code"] == "channel_not_registered" and "@router.channel(" in error["message"]
    assert not WebSocketSession.objects.exists()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "ALLOW_UNREGISTERED_CHANNELS": True}
    conn = ws.connect(user=alice, channel="nowhere")
    assert conn.accepted and channels_of(conn) == ["nowhere"]


def test_authoriser_gets_placeholders_and_can_refuse(ws, alice):
    channel_fixtures.JOINS.clear()
    assert ws.connect(user=alice, channel="croom:kitchen").accepted
    assert channel_fixtures.JOINS == [("alice", "kitchen")]
    for name, code in [("croom:closed", "channel_forbidden"), ("croom:staff", "staff_only")]:
        response = ws.connect(user=alice, channel=name).response
        assert response.status_code == 403  # on connect a refusal is always 403
        assert json.loads(response.content)["error"]["code"] == code
        conn = ws.connect(user=alice)
        reply = subscribe(conn, name)
        assert reply.error["code"] == code and reply.body["id"] == "s"
    assert ws.connect(channel="croom:kitchen").response.status_code == 403  # anonymous


# -- subscriptions ---------------------------------------------------------------------------------


def test_subscribe_unsubscribe_and_broadcast_to_many_channels(ws, alice, bob):
    a = ws.connect(user=alice, channel="croom:one")
    b = ws.connect(user=bob)
    assert subscribe(a, "croom:two").data == {"channel": "croom:two", "subscribed": True}
    assert subscribe(b, "croom:two").status == 200
    assert channels_of(a) == ["croom:one", "croom:two"]
    before = len(ws.pushed)
    Channel("croom:one").send({"type": "t", "n": 1})
    Channel("croom:two").send({"type": "t", "n": 2})
    new = ws.pushed[before:]
    assert [(p.connection_id, p.data["n"], p.data["channel"]) for p in new] == [
        (a.connection_id, 1, "croom:one"),
        (a.connection_id, 2, "croom:two"),
        (b.connection_id, 2, "croom:two"),
    ]
    reply = a.send("channel.unsubscribe", {"channel": "croom:two"})
    assert reply.data == {"channel": "croom:two", "subscribed": False}
    assert channels_of(a) == ["croom:one"]
    assert WebSocketSession.objects.get(connection_id=a.connection_id).channel_name == "croom:one"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_message"),
        ({"channel": 5}, "invalid_message"),
        ({"channel": ""}, "invalid_message"),
        ({"channel": "x" * 129}, "invalid_message"),
        ({"channel": "croom:a", "extra": 1}, "invalid_message"),
        ({"channel": "bad name"}, "invalid_channel"),
        ({"channel": "nowhere"}, "channel_not_registered"),
    ],
)
def test_bad_subscribe_requests_get_clear_errors_and_write_nothing(ws, alice, body, code):
    conn = ws.connect(user=alice)
    reply = conn.send("channel.subscribe", body)
    assert reply.status >= 400 and reply.error["code"] == code
    assert Subscription.objects.count() == 0


def test_duplicate_and_missing_subscriptions(ws, alice):
    conn = ws.connect(user=alice, channel="cpublic")
    reply = subscribe(conn, "cpublic")
    assert reply.error["code"] == "already_subscribed"
    reply = conn.send("channel.unsubscribe", {"channel": "croom:never"})
    assert reply.error["code"] == "not_subscribed"
    assert channels_of(conn) == ["cpublic"]


def test_subscription_cap_per_socket(ws, alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MAX_SUBSCRIPTIONS_PER_SOCKET": 3}
    conn = ws.connect(user=alice, channel="croom:0")
    for n in (1, 2):
        assert subscribe(conn, f"croom:{n}").status == 200
    reply = subscribe(conn, "croom:3")
    assert reply.status == 429 and reply.error["code"] == "too_many_subscriptions"
    assert reply.error["details"] == {"channel": "croom:3", "limit": 3}
    conn.send("channel.unsubscribe", {"channel": "croom:1"})
    assert subscribe(conn, "croom:3").status == 200  # the freed slot is reused
    slots = sorted(Subscription.objects.values_list("slot", flat=True))
    assert slots == [0, 1, 2]


def test_session_subscribe_api_and_in_channel(alice, captured_sends):
    ws = WsTestClient(channel_fixtures.router)
    conn = ws.connect(user=alice)
    session = WebSocketSession.objects.get(connection_id=conn.connection_id)
    session.subscribe("cpublic")
    assert list(WebSocketSession.objects.in_channel("cpublic")) == [session]
    with pytest.raises(Exception, match="already subscribed"):
        session.subscribe("cpublic")
    session.unsubscribe("cpublic")
    assert not WebSocketSession.objects.in_channel("cpublic").exists()
    with pytest.raises(TypeError):
        WebSocketSession.objects.in_channel(None)


def test_disconnect_leaves_no_subscription_rows(ws, alice):
    conn = ws.connect(user=alice, channel="croom:a")
    subscribe(conn, "chist:b")
    conn.disconnect()
    assert Subscription.objects.count() == 0


def test_subscribe_after_disconnect_is_refused(ws, alice):
    conn = ws.connect(user=alice)
    session = WebSocketSession.objects.get(connection_id=conn.connection_id)
    conn.disconnect()
    with pytest.raises(Exception, match="not open"):
        session.subscribe("cpublic")
    assert Subscription.objects.count() == 0


def test_send_to_user_reaches_every_socket_of_that_user(ws, alice, bob):
    one, two = ws.connect(user=alice, channel="cpublic"), ws.connect(user=alice)
    other = ws.connect(user=bob)
    send_to_user(alice, {"type": "notice"})
    assert one.pushed == two.pushed == [{"type": "notice"}] and other.pushed == []
    with pytest.raises(ValueError):
        send_to_user(None, {})


def test_channel_send_refuses_unfit_data_before_writing(ws, alice):
    ws.connect(user=alice, channel="chist:x")
    for data, error in [
        ([1, 2], TypeError),
        ("text", TypeError),
        ({"seq": 1}, ValueError),
        ({"channel": "other"}, ValueError),
        ({"x": object()}, TypeError),
        ({"x": "y" * 200_000}, PayloadTooLarge),
    ]:
        with pytest.raises(error):
            Channel("chist:x").send(data)
    assert ChannelMessage.objects.count() == 0
    with pytest.raises(ValueError):
        Channel("")


def hostile_values(rng):
    """JSON values a hostile client might send as a channel or a since."""
    alphabet = "croom:chist:user:0123456789abcXYZ_.@-/ \n\x00é🙂{}%*'\"\\"
    yield from ["croom:a", "chist:a", "cpublic", "user:1", "", " ", "croom:", "croom:a:b"]
    yield from [None, True, 0, -1, 2**63, 1e308, [], {}, ["croom:a"], {"channel": "croom:a"}]
    for _ in range(150):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 140)))


def test_hostile_channel_routes_input_never_errors_or_leaves_rows(ws, alice):
    import random

    rng = random.Random(12)
    conn = ws.connect(user=alice)
    ok = set()
    for value in hostile_values(rng):
        for action, body in [
            ("channel.subscribe", {"channel": value}),
            ("channel.subscribe", {"channel": "chist:h", "since": value}),
            ("channel.unsubscribe", {"channel": value}),
            ("channel.members", {"channel": value}),
            ("channel.history", {"channel": value, "since": 0}),
        ]:
            reply = conn.send(action, body)
            assert reply.status in (200, 400, 403, 429), (action, body, reply.body)
            if reply.status == 200 and action == "channel.subscribe":
                ok.add(body["channel"])
            if reply.status == 200 and action == "channel.unsubscribe":
                ok.discard(body["channel"])
    assert set(channels_of(conn)) == ok
    assert all(name.startswith(("croom:", "chist:", "cpublic")) for name in ok)


# -- presence --------------------------------------------------------------------------------------


def test_presence_join_and_leave_on_subscribe_unsubscribe_disconnect(ws, alice, bob):
    a = ws.connect(user=alice, channel="croom:p")
    b = ws.connect(user=bob)
    assert presence(a) == []  # not to itself at connect (its socket is not open yet)
    subscribe(b, "croom:p")
    assert presence(a) == [("join", "croom:p", "bob")]
    assert presence(b) == [("join", "croom:p", "bob")]  # open: it hears its own join
    b.send("channel.unsubscribe", {"channel": "croom:p"})
    assert presence(a)[-1] == ("leave", "croom:p", "bob")
    subscribe(b, "croom:p")
    b.disconnect()
    assert presence(a)[-1] == ("leave", "croom:p", "bob")
    assert [p for p in a.pushed if p["type"] == "presence"][0] == {
        "type": "presence",
        "channel": "croom:p",
        "event": "join",
        "user": {"username": "bob"},
    }


def test_a_join_is_pushed_after_the_subscription_is_visible(ws, alice, bob, monkeypatch):
    from ws_routes.models import WebSocketSessionQuerySet

    seen = []
    original = WebSocketSessionQuerySet.send

    def spy(self, data, **kwargs):
        if isinstance(data, dict) and data.get("type") == "presence":
            seen.append([m["username"] for m in Channel(data["channel"]).members()])
        return original(self, data, **kwargs)

    monkeypatch.setattr(WebSocketSessionQuerySet, "send", spy)
    ws.connect(user=alice, channel="croom:v")
    ws.connect(user=bob, channel="croom:v")
    assert seen == [["alice"], ["alice", "bob"]]


def test_members_lists_each_user_once_and_the_route_checks_the_rule(ws, alice, bob):
    a = ws.connect(user=alice, channel="croom:m")
    ws.connect(user=bob, channel="croom:m")
    ws.connect(user=bob, channel="croom:m")
    ws.connect(user=bob, channel="croom:other")
    assert Channel("croom:m").members() == [{"username": "alice"}, {"username": "bob"}]
    assert a.send("channel.members", {"channel": "croom:m"}).data == {
        "channel": "croom:m",
        "members": [{"username": "alice"}, {"username": "bob"}],
    }
    assert a.send("channel.members", {"channel": "chist:x"}).error["code"] == "no_presence"
    assert a.send("channel.members", {"channel": "croom:closed"}).error["code"] == (
        "channel_forbidden"
    )


def test_presence_user_hook(ws, alice, bob, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "PRESENCE_USER": "tests.test_channels.describe"}
    a = ws.connect(user=alice, channel="croom:h")
    subscribe(ws.connect(user=bob), "croom:h")
    assert [p["user"] for p in a.pushed] == [{"name": "BOB"}]


def describe(user):
    return {"name": user.get_username().upper()}


def test_sweeping_stale_sessions_announces_leaves(ws, alice, bob):
    a = ws.connect(user=alice, channel="croom:s")
    b = ws.connect(user=bob, channel="croom:s")
    WebSocketSession.objects.filter(connection_id=b.connection_id).update(
        connected_at=timezone.now() - timedelta(hours=3)
    )
    call_command("clearWebSocketSessions", stdout=io.StringIO())
    assert presence(a)[-1] == ("leave", "croom:s", "bob")
    assert list(Subscription.objects.values_list("channel", flat=True)) == ["croom:s"]


# -- history and resume ----------------------------------------------------------------------------


def test_history_numbers_keeps_and_replays_in_order(ws, alice):
    a = ws.connect(user=alice, channel="chist:r")
    for n in range(1, 4):
        Channel("chist:r").send({"type": "m", "n": n})
    assert [(p["n"], p["seq"], p["channel"]) for p in a.pushed] == [
        (1, 1, "chist:r"),
        (2, 2, "chist:r"),
        (3, 3, "chist:r"),
    ]
    b = ws.connect(user=alice)
    reply = subscribe(b, "chist:r", since=1).data
    assert reply["seq"] == 3 and reply["gap"] is False and reply["more"] is False
    assert reply["messages"] == [
        {"type": "m", "n": 2, "channel": "chist:r", "seq": 2},
        {"type": "m", "n": 3, "channel": "chist:r", "seq": 3},
    ]
    c = ws.connect(user=alice)
    assert subscribe(c, "chist:r").data == {"channel": "chist:r", "subscribed": True, "seq": 3}
    d = ws.connect(user=alice)
    assert subscribe(d, "chist:r", since=3).data["messages"] == []


def test_count_history_is_pruned_in_batches_and_reports_gaps(ws, alice):
    ws.connect(user=alice, channel="chist:p")
    for n in range(23):
        Channel("chist:p").send({"n": n})
    kept = ChannelMessage.objects.filter(channel="chist:p").count()
    assert 5 <= kept <= 6  # history=5: pruned every message (interval 1)
    reply = subscribe(ws.connect(user=alice), "chist:p", since=10).data
    assert reply["gap"] is True and [m["seq"] for m in reply["messages"]] == [19, 20, 21, 22, 23]
    reply = subscribe(ws.connect(user=alice), "chist:p", since=19).data
    assert reply["gap"] is False and [m["seq"] for m in reply["messages"]] == [20, 21, 22, 23]


def test_big_history_prunes_every_hundred_not_every_message(alice, captured_sends):
    rule = find_channel_rule("cbig:x")
    from ws_routes.channels.history import prune_interval

    assert prune_interval(rule) == 100
    for n in range(1, 1101):
        ChannelMessage.objects.create(channel="cbig:x", seq=n, data="{}")
    Channel("cbig:x").send({"n": 0})  # seq 1101: no prune
    assert ChannelMessage.objects.filter(channel="cbig:x").count() == 1101
    ChannelMessage.objects.filter(channel="cbig:x", seq=1101).delete()
    for _ in range(100):
        Channel("cbig:x").send({"n": 1})
    assert ChannelMessage.objects.filter(channel="cbig:x").count() == 1000
    assert ChannelMessage.objects.filter(channel="cbig:x").order_by("seq").first().seq == 201


def test_age_history_replays_only_recent_and_keeps_the_newest(ws, alice):
    ws.connect(user=alice, channel="cage:a")
    for n in range(3):
        Channel("cage:a").send({"n": n})
    ChannelMessage.objects.filter(channel="cage:a", seq__lte=2).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    reply = subscribe(ws.connect(user=alice), "cage:a", since=0).data
    assert reply["gap"] is True and [m["seq"] for m in reply["messages"]] == [3]
    ChannelMessage.objects.filter(channel="cage:a").update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    reply = subscribe(ws.connect(user=alice), "cage:a", since=1).data
    assert reply == {
        "channel": "cage:a",
        "subscribed": True,
        "seq": 3,
        "messages": [],
        "gap": True,
        "more": False,
    }


def test_large_replays_are_split_with_more(ws, alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "HISTORY_REPLAY_BYTES": 300}
    ws.connect(user=alice, channel="chist:l")
    for n in range(5):
        Channel("chist:l").send({"text": "x" * 100, "n": n})
    conn = ws.connect(user=alice)
    reply = subscribe(conn, "chist:l", since=0).data
    assert reply["more"] is True and 1 <= len(reply["messages"]) < 5
    seen = [m["seq"] for m in reply["messages"]]
    while reply["more"]:
        reply = conn.send("channel.history", {"channel": "chist:l", "since": seen[-1]}).data
        seen += [m["seq"] for m in reply["messages"]]
    assert seen == [1, 2, 3, 4, 5]
    other = ws.connect(user=alice)
    reply = other.send("channel.history", {"channel": "chist:l", "since": 0})
    assert reply.error["code"] == "not_subscribed"


@pytest.mark.parametrize(
    ("since", "code"),
    [
        (-1, "invalid_since"),
        (2**53, "invalid_since"),
        (10**30, "invalid_since"),
        ("3", "invalid_message"),
        (1.5, "invalid_message"),
        (True, "invalid_message"),
        (None, "invalid_message"),
        (99, "invalid_since"),  # from the future: the channel is at seq 2
    ],
)
def test_bad_since_values_get_clear_errors_and_leave_no_rows(ws, alice, since, code):
    ws.connect(user=alice, channel="chist:s")
    Channel("chist:s").send({"n": 1})
    Channel("chist:s").send({"n": 2})
    conn = ws.connect(user=alice)
    reply = conn.send("channel.subscribe", {"channel": "chist:s", "since": since})
    assert reply.status == 400 and reply.error["code"] == code
    assert channels_of(conn) == []


def test_since_on_a_channel_without_history_is_refused(ws, alice):
    conn = ws.connect(user=alice)
    assert subscribe(conn, "croom:n", since=0).error["code"] == "no_history"
    assert channels_of(conn) == []


# -- budgets ---------------------------------------------------------------------------------------

WRITES = ("INSERT", "UPDATE", "DELETE")


def test_message_stays_one_query_with_subscriptions(ws, alice, django_assert_num_queries):
    conn = ws.connect(user=alice, channel="croom:q")
    subscribe(conn, "chist:q")
    import tests.testapp.ws  # noqa: F401  (the echo route is on the default router)

    default = WsTestClient()
    echo = default.connect(user=alice, channel="lobby")
    with django_assert_num_queries(1):
        assert echo.send("echo", {"x": 1}).status == 200


def test_subscribe_is_one_insert(ws, alice, django_assert_num_queries):
    conn = ws.connect(user=alice)
    # the session query + the INSERT (no presence, no history on this channel)
    with django_assert_num_queries(2) as captured:
        assert subscribe(conn, "cpublic").status == 200
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(WRITES)]
    assert len(writes) == 1 and writes[0].startswith("INSERT")


def test_history_send_is_one_insert_besides_the_pushes(ws, alice, django_assert_num_queries):
    ws.connect(user=alice, channel="cbig:budget")
    with django_assert_num_queries(2) as captured:  # the INSERT + reading the recipients
        Channel("cbig:budget").send({"n": 1})
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(WRITES)]
    assert len(writes) == 1 and writes[0].startswith("INSERT")


def test_broadcast_reads_subscribers_in_chunks(ws, alice, settings, django_assert_max_num_queries):
    session = WebSocketSession.objects.get(
        connection_id=ws.connect(user=alice, channel="cpublic").connection_id
    )
    sessions = WebSocketSession.objects.bulk_create(
        [
            WebSocketSession(connection_id=f"Chunk{n:05d}=", api_id="a", stage="s")
            for n in range(250)
        ]
    )
    Subscription.objects.bulk_create(
        [Subscription(session=s, channel="cpublic", slot=0) for s in sessions]
    )
    from ws_routes.sending.recipients import queryset_rows

    chunks = list(queryset_rows(WebSocketSession.objects.in_channel("cpublic"), 100))
    assert [len(c) for c in chunks] == [100, 100, 51]
    ids = [row[0] for chunk in chunks for row in chunk]
    assert len(set(ids)) == 251 and session.pk in ids
