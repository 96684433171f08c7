"""State shared by every send of a process: boto3's session (region, credentials) and the one
event loop thread the posts run in. All of it is forgotten in a forked child.

Example: ``run_on_loop(sync_loop(), some_coroutine())`` from any thread but the loop's own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Replaced in a forked child (a parent thread may have held it at fork time): always read it as
# ``process.state_lock``, never import the name.
state_lock = threading.Lock()
_chain_region_cache: list[str | None] = []
_boto3_session: list[Any] = []
# Objects of a parent process, kept referenced in a forked child so that garbage collection
# never tries to close the parent's sockets or loop from the child.
abandoned: list[Any] = []


def boto3_default_session() -> Any:
    """One boto3 Session per process (creating one is slow and not thread-safe)."""
    with state_lock:
        if not _boto3_session:
            import boto3

            _boto3_session.append(boto3.session.Session())
        return _boto3_session[0]


def chain_region() -> str | None:
    """The region boto3 would use (AWS_REGION, AWS_DEFAULT_REGION, config file), once."""
    if not _chain_region_cache:
        region = boto3_default_session().region_name
        _chain_region_cache.append(region)
    return _chain_region_cache[0]


def chain_credentials() -> Any:
    """Frozen credentials from boto3's chain; refreshable ones refresh themselves here."""
    credentials = boto3_default_session().get_credentials()
    return None if credentials is None else credentials.get_frozen_credentials()


def chain_ca_bundle() -> str | None:
    """The CA bundle botocore would verify TLS with: ``AWS_CA_BUNDLE``, else the config file's
    ``ca_bundle`` (botocore's config variable ``ca_bundle``), else None (the system's)."""
    bundle = boto3_default_session()._session.get_config_variable("ca_bundle")
    return str(bundle) if bundle else None


def forget_aws_chain() -> None:
    """Forget boto3's session and region; the caller holds :data:`state_lock`."""
    _boto3_session.clear()
    _chain_region_cache.clear()


class _LoopThread:
    """One daemon thread running one event loop, started on first use, restarted after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None:
            return loop
        with self._lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="ws-routes-sender", daemon=True
                )
                thread.start()
                ready.wait()
                self.thread = thread
                self.loop = loop
            return self.loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def in_loop_thread(self) -> bool:
        return self.thread is not None and threading.current_thread() is self.thread


_loop_thread = _LoopThread()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The sender's loop if it was started in this process, else None (nothing to close)."""
    return _loop_thread.loop


def sender_loop() -> asyncio.AbstractEventLoop:
    """The sender's loop, started on first use."""
    return _loop_thread.get()


def sync_loop() -> asyncio.AbstractEventLoop:
    """The sender's loop, for a caller about to block on it (never the loop thread itself)."""
    if _loop_thread.in_loop_thread():
        raise RuntimeError("send() cannot be called from the sender's own event loop thread")
    return _loop_thread.get()


def run_on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in ``loop`` and block until its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def await_on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in ``loop`` and await its result from another loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def _forget_after_fork() -> None:
    global _loop_thread, state_lock
    abandoned.extend([_loop_thread, list(_boto3_session)])
    _loop_thread = _LoopThread()
    state_lock = threading.Lock()
    forget_aws_chain()


os.register_at_fork(after_in_child=_forget_after_fork)
