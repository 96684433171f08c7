"""Issue 26 item 6: ``session.disconnect()`` closes one socket from code.

Like the logout path (``login_signals.unbind_user_sockets``): the socket is anonymous and out
of its ``user:{id}`` channel in the database at once, and ``DELETE @connections/{id}`` runs
after the commit (marking it disconnected); a management API that is down loses nothing.
"""

from __future__ import annotations

import datetime
import logging

import pytest
from django.utils import timezone

from ws_routes.models import Subscription, WebSocketSession
from ws_routes.sending import reset_sender

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs


class Recorder:
    """A send transport that records each call and answers ``status``."""

    def __init__(self, status=200):
        self.calls, self.status = [], status

    def prepare(self):
        pass

    async def request(self, method, endpoint, connection_id, payload, timeout):
        self.calls.append((method, connection_id))
        if self.status is None:
            raise OSError("management API down")
        return self.status

    async def aclose(self):
        pass


@pytest.fixture
def transport(settings):
    recorder = Recorder()
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "SEND_TRANSPORT": recorder,
        "MANAGEMENT_ENDPOINT": None,
        "SEND_MAX_RETRIES": 1,
        "SEND_BACKOFF_BASE_SECONDS": 0.001,
        "SEND_BACKOFF_MAX_SECONDS": 0.002,
    }
    reset_sender()
    yield recorder
    reset_sender()


def open_session(connection_id, user=None):
    session = WebSocketSession.objects.create(
        connection_id=connection_id,
        api_id="abc123",
        stage="prod",
        user=user,
        connected=True,
        connected_at=timezone.now() - datetime.timedelta(hours=1),
    )
    if user is not None:
        Subscription.objects.create(session=session, channel=f"user:{user.pk}", slot=1)
    Subscription.objects.create(session=session, channel="lobby", slot=0)
    return session


def test_disconnect_closes_that_socket_only(transport, alice):
    mine, other = open_session("c-1", alice), open_session("c-2", alice)
    mine.disconnect()
    assert transport.calls == [("DELETE", "c-1")]
    mine.refresh_from_db()
    other.refresh_from_db()
    assert not mine.connected and mine.user is None and mine.login_binding == ""
    assert other.connected and other.user == alice
    assert set(Subscription.objects.filter(session=mine).values_list("channel", flat=True)) == {
        "lobby"
    }
    assert Subscription.objects.filter(session=other).count() == 2


def test_a_management_api_that_is_down_still_unbinds(transport, alice, caplog):
    transport.status = None
    session = open_session("c-3", alice)
    with caplog.at_level(logging.WARNING, logger="ws_routes"):
        session.disconnect()  # never raises
    session.refresh_from_db()
    assert session.user is None  # no longer alice's, though the socket may still be open
    assert not Subscription.objects.filter(session=session, channel__startswith="user:").exists()
    assert transport.calls and transport.calls[0] == ("DELETE", "c-3")


def test_the_delete_waits_for_the_commit(transport, alice):
    from django.db import transaction

    session = open_session("c-4", alice)
    with transaction.atomic():
        session.disconnect()
        assert transport.calls == []
        assert WebSocketSession.objects.get(pk=session.pk).user is None
    assert transport.calls == [("DELETE", "c-4")]


def test_an_anonymous_or_unsaved_session(transport):
    anonymous = open_session("c-5")
    anonymous.disconnect()
    assert transport.calls == [("DELETE", "c-5")]
    WebSocketSession(connection_id="never-saved", api_id="abc123", stage="prod").disconnect()
    assert transport.calls == [("DELETE", "c-5")]
