"""Channels under concurrent input: real threads, real connections (SQLite or PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests import channel_fixtures
from tests.test_concurrency import run_together
from ws_routes import Channel, WsError
from ws_routes.channels.subscriptions import insert_subscription
from ws_routes.models import ChannelMessage, Subscription, WebSocketSession
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db(transaction=True)


def open_session(name: str) -> WebSocketSession:
    return WebSocketSession.objects.create(connection_id=name, api_id="a", stage="s")


def test_concurrent_history_senders_get_gap_free_sequence_numbers(captured_sends):
    senders, each = 8, 15

    def send(i: int) -> list[int]:
        return [Channel("cbig:race").send({"i": i, "k": k}).delivered for k in range(each)]

    run_together(senders, send)
    rows = ChannelMessage.objects.filter(channel="cbig:race").order_by("seq")
    seqs = list(rows.values_list("seq", "data"))
    assert [seq for seq, _ in seqs] == list(range(1, senders * each + 1))
    assert len({data for _, data in seqs}) == senders * each  # every message kept once


def test_a_subscribe_storm_on_one_socket_stops_at_the_cap(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MAX_SUBSCRIPTIONS_PER_SOCKET": 5}
    session = open_session("Storm=")

    def attempt(i: int) -> str:
        try:
            insert_subscription("Storm=", f"cpublic{i}")
        except WsError as error:
            return error.code
        return "ok"

    outcomes = run_together(12, attempt)
    assert outcomes.count("ok") == 5
    assert set(outcomes) <= {"ok", "too_many_subscriptions", "subscribe_conflict"}
    rows = list(Subscription.objects.filter(session=session).values_list("slot", flat=True))
    assert sorted(rows) == [0, 1, 2, 3, 4]


def test_the_same_channel_raced_is_subscribed_once():
    session = open_session("Same=")

    def attempt(i: int) -> str:
        try:
            insert_subscription("Same=", "cpublic")
        except WsError as error:
            return error.code
        return "ok"

    outcomes = run_together(8, attempt)
    assert outcomes.count("ok") == 1
    assert set(outcomes) == {"ok", "already_subscribed"}
    assert Subscription.objects.filter(session=session).count() == 1


def test_subscribes_racing_a_disconnect_leave_no_rows(alice):
    ws = WsTestClient(channel_fixtures.router)
    # One capture for every thread: patching the sender from several threads at once would
    # interleave and could leave it patched after the test.
    with ws.capture():
        for round_ in range(3):
            conn = ws.connect(user=alice)

            def act(i: int, conn=conn) -> object:
                if i == 0:
                    return ws.post("DISCONNECT", conn.connection_id).status_code
                body = f'{{"action": "channel.subscribe", "channel": "croom:r{i}"}}'
                return ws.post("MESSAGE", conn.connection_id, body.encode(), user=alice).status_code

            statuses = run_together(6, act)
            assert set(statuses) <= {200, 410}, statuses
            assert not WebSocketSession.objects.filter(
                connection_id=conn.connection_id, connected=True
            )
            assert Subscription.objects.count() == 0, (round_, statuses)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the query plan is PostgreSQL's (DATABASE_URL)"
)
def test_postgresql_reads_a_channel_through_its_index():
    from ws_routes.sending.recipients import queryset_rows  # noqa: F401  (the query it pages with)

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ws_routes_websocketsession (connection_id, channel_name, api_id, stage,"
            " login_binding, connected, connected_at, updated_on)"
            " SELECT 'Plan' || n || '=', '', 'a', 's', '', true, now(), now()"
            " FROM generate_series(1, 20000) n"
        )
        cursor.execute(
            "INSERT INTO ws_routes_subscription (session_id, channel, slot, created_at)"
            " SELECT id, 'croom:' || (id % 200), 0, now() FROM ws_routes_websocketsession"
        )
        cursor.execute("ANALYZE ws_routes_subscription")
        cursor.execute("ANALYZE ws_routes_websocketsession")
    page = (
        WebSocketSession.objects.in_channel("croom:7")
        .filter(connected=True, pk__gt=0)
        .order_by("pk")
        .values_list("pk", "connection_id", "api_id", "stage")[:2000]
    )
    plan = page.explain()
    assert "ws_routes_sub_channel" in plan, plan
    assert len(list(page)) == 100


def test_concurrent_unsubscribes_of_one_channel_succeed_once():
    session = open_session("Unsub=")
    insert_subscription("Unsub=", "cpublic")

    def attempt(i: int) -> str:
        try:
            WebSocketSession.objects.get(pk=session.pk).unsubscribe("cpublic")
        except WsError as error:
            return error.code
        return "ok"

    outcomes = run_together(6, attempt)
    assert sorted(outcomes) == ["not_subscribed"] * 5 + ["ok"]
    assert Subscription.objects.count() == 0
