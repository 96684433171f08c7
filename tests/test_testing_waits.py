"""Issue 26 item 6: an async-friendly wait for pushes in ``WsTestClient`` tests.

There was no ``receive``-style helper: a push made after the request returned (a thread, an
asyncio task) could only be polled for by hand. ``ws_routes.testing_waits`` waits with a timeout.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from ws_routes.models import WebSocketSession
from ws_routes.testing import WsTestClient
from ws_routes.testing_waits import areceive, assert_nothing_received, receive

pytestmark = pytest.mark.django_db(transaction=True)


def later(seconds, fn, *args):
    thread = threading.Timer(seconds, fn, args)
    thread.start()
    return thread


def session_of(conn):
    return WebSocketSession.objects.get(connection_id=conn.connection_id)


def test_receive_waits_for_a_push_from_another_thread(alice):
    with WsTestClient() as ws:
        conn, other = ws.connect(user=alice), ws.connect(user=alice)
        session = session_of(conn)
        later(0.05, session.send, {"n": 1})
        later(0.10, session.send, {"n": 2})
        assert receive(conn, timeout=5) == {"n": 1}
        assert receive(conn, timeout=5) == {"n": 2}  # a cursor: each push once, in order
        assert_nothing_received(conn, timeout=0.05)
        assert_nothing_received(other, timeout=0.05)  # only its own pushes


def test_receive_times_out_with_a_clear_error(alice):
    with WsTestClient() as ws:
        conn = ws.connect(user=alice)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"no push to .* within 0.1 s"):
            receive(conn, timeout=0.1)
        assert 0.09 <= time.monotonic() - started < 2


def test_assert_nothing_received_fails_on_a_push(alice):
    with WsTestClient() as ws:
        conn = ws.connect(user=alice)
        session_of(conn).send({"surprise": True})
        with pytest.raises(AssertionError, match="unexpected push"):
            assert_nothing_received(conn)


def test_areceive_lets_other_tasks_run(alice):
    with WsTestClient() as ws:
        conn = ws.connect(user=alice)
        session = session_of(conn)

        async def main():
            async def push_soon():
                await asyncio.sleep(0.05)
                await asyncio.to_thread(session.send, {"from": "task"})

            task = asyncio.create_task(push_soon())
            received = await areceive(conn, timeout=5)
            await task
            with pytest.raises(TimeoutError):
                await areceive(conn, timeout=0.05)
            return received

        assert asyncio.run(main()) == {"from": "task"}


@pytest.mark.parametrize("timeout", [-1, 61, math.nan, math.inf, "1", None, True])
def test_a_bad_timeout_is_refused(alice, timeout):
    with WsTestClient() as ws:
        conn = ws.connect(user=alice)
        with pytest.raises((TypeError, ValueError), match="timeout"):
            receive(conn, timeout=timeout)
        with pytest.raises((TypeError, ValueError), match="timeout"):
            asyncio.run(areceive(conn, timeout=timeout))
