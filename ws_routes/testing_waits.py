"""Waiting for pushes in tests: ``receive`` (threads) and ``areceive`` (async code).

``WsTestClient`` captures a push the moment it is sent, so a push made in the request is in
``conn.pushed`` when ``send`` returns. A push made later (a thread, an ``asyncio`` task, an
``on_commit`` callback, a worker run in-process) needs waiting for, as Channels'
``WebsocketCommunicator.receive_from(timeout=)`` does::

    with WsTestClient(router) as ws:
        conn = ws.connect(user=alice)
        start_a_thread_that_pushes()
        assert receive(conn, timeout=2)["type"] == "chat.message"
        assert_nothing_received(conn)

    async def test_it():  # inside asyncio.run(...) or an async test runner
        task = asyncio.create_task(session.asend({"n": 1}))
        assert await areceive(conn) == {"n": 1}

Each connection keeps a cursor: ``receive`` returns the oldest push it has not returned yet.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

#: Seconds between two looks at ``client.pushed`` while waiting.
POLL_SECONDS = 0.005
#: The longest wait a test may ask for (a typo such as ``timeout=1000`` would hang the suite).
MAX_TIMEOUT_SECONDS = 60.0

_CURSORS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 <= timeout <= MAX_TIMEOUT_SECONDS:  # also refuses NaN
        raise ValueError(f"timeout must be 0 to {MAX_TIMEOUT_SECONDS:g} seconds, not {timeout!r}")
    return float(timeout)


def _next(conn: Any) -> tuple[bool, Any]:
    pushed = conn.pushed
    cursor = _CURSORS.get(conn, 0)
    if cursor < len(pushed):
        _CURSORS[conn] = cursor + 1
        return True, pushed[cursor]
    return False, None


def _timed_out(conn: Any, timeout: float) -> TimeoutError:
    return TimeoutError(
        f"no push to {conn.connection_id!r} within {timeout:g} s "
        f"({_CURSORS.get(conn, 0)} received before)"
    )


def receive(conn: Any, timeout: float = 1.0) -> Any:
    """The next push to ``conn`` (a ``WsConnection``), waiting up to ``timeout`` seconds;
    ``TimeoutError`` if none comes. Blocks the thread: use ``areceive`` in async code."""
    limit = _timeout(timeout)
    deadline = time.monotonic() + limit
    while True:
        found, data = _next(conn)
        if found:
            return data
        if time.monotonic() >= deadline:
            raise _timed_out(conn, limit)
        time.sleep(POLL_SECONDS)


async def areceive(conn: Any, timeout: float = 1.0) -> Any:
    """``receive`` for async code: waits with ``asyncio.sleep``, so other tasks run meanwhile."""
    limit = _timeout(timeout)
    deadline = time.monotonic() + limit
    while True:
        found, data = _next(conn)
        if found:
            return data
        if time.monotonic() >= deadline:
            raise _timed_out(conn, limit)
        await asyncio.sleep(POLL_SECONDS)


def assert_nothing_received(conn: Any, timeout: float = 0.1) -> None:
    """Fail (``AssertionError``) if a push to ``conn`` not yet received arrives within
    ``timeout`` seconds."""
    try:
        data = receive(conn, timeout)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected push to {conn.connection_id!r}: {data!r:.200}")
