"""Helpers of the background-send tests: sessions in bulk, the Celery app in eager mode."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ws_routes.models import Subscription, WebSocketSession


def make_sessions(count: int, channel: str = "lobby", prefix: str = "c", **fields: Any) -> None:
    """``count`` open sessions on ``channel`` (its ``channel_name`` and a subscription)."""
    sessions = WebSocketSession.objects.bulk_create(
        (
            WebSocketSession(
                connection_id=f"{prefix}{n:07d}=",
                channel_name=channel,
                api_id="abc123",
                stage="prod",
                # Established: a 410 within CONNECT_GRACE of the connect does not mark it gone.
                **{"connected_at": timezone.now() - timedelta(hours=1), **fields},
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    if channel:
        created = WebSocketSession.objects.filter(
            connection_id__in=[session.connection_id for session in sessions]
        )
        Subscription.objects.bulk_create(
            (Subscription(session=session, channel=channel, slot=0) for session in created),
            batch_size=2000,
        )


def run_together(*actions: Any) -> list[Any]:
    """Run ``actions`` in threads released at once (a barrier); their results, in order.
    Any exception is re-raised after all have ended; each thread closes its DB connection."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int, action: Any) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except BaseException as exc:  # reported below, after every thread ended
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_or_skip() -> Any:
    """Skip (saying why) when Redis is unreachable, unless CI requires it
    (``WS_ROUTES_REQUIRE_REDIS=1``: then the tests run and fail)."""
    import os

    import pytest

    required = os.environ.get("WS_ROUTES_REQUIRE_REDIS") == "1"
    return pytest.mark.skipif(
        not required and not redis_reachable(),
        reason="Redis is not reachable on 127.0.0.1:6379 (eager-mode equivalents run in "
        "tests/test_background.py; CI sets WS_ROUTES_REQUIRE_REDIS=1)",
    )


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def eager_celery(**conf: Any) -> Iterator[Any]:
    """The tests' Celery app running tasks in-process (``task_always_eager``)."""
    from tests.celery_app import app

    saved = {key: app.conf[key] for key in ("task_always_eager", *conf)}
    app.conf.update(task_always_eager=True, **conf)
    app.set_current()
    try:
        yield app
    finally:
        app.conf.update(saved)
