"""WsTestClient and background sends (issue 26 item 2), tested as a user would: a route that
broadcasts with ``send(background=True)``, several sockets, Celery in eager mode or
``BACKGROUND_INLINE_MAX``. The shards run through ws_routes.broadcasting and their pushes are
captured; the ``Broadcast`` is asserted on (docs/testing.md)."""

from __future__ import annotations

import pytest

from tests.background_support import eager_celery
from ws_routes import Router
from ws_routes.broadcasting import runner
from ws_routes.models import Broadcast, BroadcastShard, WebSocketSession
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db


def announce_router() -> Router:
    r = Router()
    r.add_channel("lobby")

    @r.route("announce", schema={"type": "object", "required": ["text"]})
    def announce(request, body):
        lobby = WebSocketSession.objects.filter(channel_name="lobby")
        broadcast = lobby.send({"text": body["text"]}, background=True)
        return {"broadcast": broadcast.pk}

    return r


@pytest.fixture
def small_shards(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_SHARD_SIZE": 2}


def assert_everyone_got_it(ws, sockets, broadcast_id):
    for conn in sockets:
        assert conn.pushed == [{"text": "hi"}]
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert (broadcast.state, broadcast.total, broadcast.delivered) == ("finished", 5, 5)
    assert (broadcast.failed, broadcast.gone, broadcast.error) == (0, 0, "")
    assert ws.broadcasts == [broadcast]
    assert ws.broadcasts[0].delivered == 5  # read again: the finished counts


def test_background_send_in_eager_celery_is_captured(small_shards):
    with eager_celery(), WsTestClient(announce_router()) as ws:
        sockets = [ws.connect(channel="lobby") for _ in range(5)]
        reply = sockets[0].send("announce", {"text": "hi"})
        assert reply.status == 200, reply.body
        assert_everyone_got_it(ws, sockets, reply.data["broadcast"])
    # Three shards of at most two recipients, each run by the library's shard code.
    assert BroadcastShard.objects.filter(state="done").count() == 3


def test_background_send_under_inline_max_is_captured(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "BACKGROUND_INLINE_MAX": 10}
    ws = WsTestClient(announce_router())  # no ``with``: each call captures
    sockets = [ws.connect(channel="lobby") for _ in range(5)]
    reply = sockets[0].send("announce", {"text": "hi"})
    assert_everyone_got_it(ws, sockets, reply.data["broadcast"])


def test_a_background_send_from_the_test_itself_is_captured(small_shards):
    with eager_celery(), WsTestClient(announce_router()) as ws:
        sockets = [ws.connect(channel="lobby") for _ in range(5)]
        sockets[4].disconnect()
        broadcast = WebSocketSession.objects.filter(channel_name="lobby").send(
            {"text": "hi"}, background=True
        )
        broadcast.refresh_from_db()
        assert (broadcast.state, broadcast.delivered) == ("finished", 4)
        assert [conn.pushed for conn in sockets] == [[{"text": "hi"}]] * 4 + [[]]


def test_undeclared_background_push_is_a_contract_violation(small_shards):
    r = announce_router()
    r.message("news", schema={"type": "object", "required": ["title"]})
    with eager_celery(), WsTestClient(r) as ws:
        ws.connect(channel="lobby")
        WebSocketSession.objects.filter(channel_name="lobby").send({"text": 1}, background=True)
        assert ws.violations and "breaks the contract" in ws.violations[0]


def test_a_sliced_queryset_sent_in_process_is_captured():
    with WsTestClient(announce_router()) as ws:
        sockets = [ws.connect(channel="lobby") for _ in range(3)]
        result = WebSocketSession.objects.order_by("pk")[:2].send({"n": 1})
        assert result.delivered == 2
        assert [conn.pushed for conn in sockets] == [[{"n": 1}], [{"n": 1}], []]


def test_shard_recipients_can_be_filtered_further(small_shards):
    """The library's own root cause: a shard's recipients were a sliced queryset, which
    nothing downstream (a capture, a checkpoint resume) could filter."""
    with WsTestClient(announce_router()) as ws:
        for _ in range(5):
            ws.connect(channel="lobby")
    from ws_routes.broadcasting.enqueue import enqueue_broadcast

    broadcast = enqueue_broadcast(
        WebSocketSession.objects.filter(channel_name="lobby"), {"x": 1}, publish=False
    )
    shard_ids = runner.start_broadcast(broadcast.pk)
    broadcast.refresh_from_db()
    counted = 0
    for shard in BroadcastShard.objects.filter(pk__in=shard_ids):
        recipients = runner.shard_recipients(broadcast, shard)
        assert not recipients.query.is_sliced
        assert recipients.filter(connected=True).count() == shard.expected
        counted += shard.expected
    assert counted == 5
