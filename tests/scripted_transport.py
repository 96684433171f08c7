"""An in-process management API for the checkpoint tests: a :class:`~ws_routes.sending.Transport`
that records each post when it starts and when it is answered, with a latency and a status
chosen per connection id, and posts it can hold until released.

It runs in the sender's loop thread; the test reads what it recorded afterwards (or from a
``record`` callback, in the calling thread, while the posts go on).

Example::

    posts = ScriptedPosts(latency=lambda cid: 0.001 * (hash(cid) % 5))
    sending.send_with_checkpoints(qs, {"n": 1}, resend_bound=10, record=save, transport=posts)
    assert posts.started == [...]
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable


class ScriptedPosts:
    def __init__(
        self,
        latency: Callable[[str], float] = lambda _: 0.0,
        status: Callable[[str], int] = lambda cid: 410 if cid.startswith("gone-") else 200,
        hold: frozenset[str] = frozenset(),
        on_start: Callable[[ScriptedPosts, str], None] | None = None,
        hold_seconds: float = 5.0,
    ) -> None:
        self.latency = latency
        self.status = status
        self.hold = hold
        self.on_start = on_start
        self.hold_seconds = hold_seconds  # a held post answers by then anyway (never hangs)
        self.started: list[str] = []  # connection ids, in the order their posts started
        self.answered: set[str] = set()
        self.in_flight = 0
        self._lock = threading.Lock()  # the test thread reads while the loop thread writes
        self._released: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released_early = False

    def prepare(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def request(self, method, endpoint, connection_id, payload, timeout) -> int:
        with self._lock:
            self.started.append(connection_id)
            self.in_flight += 1
        try:
            if self.on_start is not None:
                self.on_start(self, connection_id)  # may raise, as a dying worker
            if connection_id in self.hold and not self._released_early:
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(self._release_event().wait(), self.hold_seconds)
            delay = self.latency(connection_id)
            if delay:
                await asyncio.sleep(delay)
            status = self.status(connection_id)
            with self._lock:
                self.answered.add(connection_id)
            return status
        finally:
            with self._lock:
                self.in_flight -= 1

    def _release_event(self) -> asyncio.Event:
        if self._released is None:
            self._loop = asyncio.get_running_loop()
            self._released = asyncio.Event()
        return self._released

    def release(self) -> None:
        """Answer the held posts, and hold none from now on (from any thread)."""
        self._released_early = True
        if self._loop is not None and self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    def snapshot(self) -> tuple[int, int, set[str]]:
        """(posts started, posts in flight, connection ids answered), read at once."""
        with self._lock:
            return len(self.started), self.in_flight, set(self.answered)
