"""Celery tasks of background broadcasts (the optional ``[celery]`` extra).

``app.autodiscover_tasks()`` in the project's Celery module finds this module. Both tasks are
acknowledged late and rejected (requeued) when their worker dies, so a shard whose worker was
killed is delivered by another; the shard's lease and attempt counter (``BroadcastShard``)
keep redeliveries from running a shard twice at once or forever. With the Redis or SQS broker
set ``visibility_timeout`` above ``BACKGROUND_SHARD_LEASE_SECONDS`` (docs/background.md).

Example worker: ``celery -A myproject worker --prefetch-multiplier=1``.
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from .broadcasting.publish import SHARD_TASK, START_TASK, BroadcastEnqueueError, publish
from .conf import ws_setting

_LATE = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name=START_TASK, bind=True, max_retries=10, **_LATE)
def start_broadcast(self: Any, broadcast_id: int) -> int:
    """Count the recipients, write the shards, publish their tasks; returns how many.

    A start that raises (the database away, say) is retried; after ``max_retries`` the
    broadcast ends ``failed`` with the error instead of staying enqueued.
    """
    from .broadcasting import runner  # models: only once Django is set up

    try:
        shard_ids = runner.start_broadcast(broadcast_id)
    except Exception as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            runner.fail_unstartable(broadcast_id, f"{type(exc).__name__}: {exc}")
            return 0
        raise self.retry(exc=exc, countdown=min(30, 2**self.request.retries)) from exc
    if shard_ids is None:  # not committed yet, or deleted: look again shortly, then give up
        raise self.retry(countdown=1)
    queue = ws_setting("BACKGROUND_QUEUE")
    try:
        for shard_id in shard_ids:
            publish(SHARD_TASK, (shard_id,), queue)
    except BroadcastEnqueueError as exc:  # publishing again is safe: claims are conditional
        raise self.retry(exc=exc, countdown=min(30, 2**self.request.retries)) from exc
    return len(shard_ids)


@shared_task(name=SHARD_TASK, bind=True, **_LATE)
def deliver_shard(self: Any, shard_id: int) -> bool:
    """Deliver one shard (see :func:`ws_routes.broadcasting.runner.run_shard`)."""
    from .broadcasting import runner

    while True:
        try:
            run = runner.run_shard(shard_id)
        except Exception as exc:
            if self.request.is_eager:
                continue  # the shard's own attempt counter ends this
            raise self.retry(exc=exc, countdown=min(30, 2**self.request.retries), max_retries=None)
        if not run.retry_in:
            return run.ran
        if self.request.is_eager:  # in-process: wait for the lease here
            time.sleep(min(run.retry_in, 1.0))
            continue
        # Another worker holds the shard (or held it and died): look again when its lease ends.
        raise self.retry(countdown=max(0.5, run.retry_in), max_retries=None)
