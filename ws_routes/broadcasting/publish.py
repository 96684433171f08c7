"""Hand a task to Celery by name: this layer never imports :mod:`ws_routes.tasks` (above it).

A task registered with the current app (``app.autodiscover_tasks()`` finds ``ws_routes.tasks``)
is published through it, so ``task_always_eager`` runs it in-process; otherwise by name
(``send_task``), which is all a web process needs. A broker that is down raises
:class:`BroadcastEnqueueError` after a short, bounded retry.

Example: ``publish(START_TASK, (broadcast.pk,))``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

START_TASK = "ws_routes.start_broadcast"
SHARD_TASK = "ws_routes.deliver_shard"

#: Publishing gives up after about a second when the broker does not answer.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 0.5}


class BroadcastEnqueueError(RuntimeError):
    """The broker did not take the broadcast: nothing was enqueued and no record is left.

    Example::

        try:
            qs.send(data, background=True)
        except BroadcastEnqueueError as exc:
            logger.error("broadcast not sent: %s", exc)
    """


def celery_app() -> Any:
    """The current Celery app (the project's, once it is imported), or a clear error."""
    try:
        from celery import current_app
    except ImportError as exc:
        raise ImproperlyConfigured(
            "send(background=True) needs Celery: pip install 'django-ws-routes[celery]' and "
            "configure a Celery app for the project (docs/background.md)"
        ) from exc
    return current_app._get_current_object()


def publish(task_name: str, args: tuple[Any, ...], queue: str | None = None) -> None:
    """Enqueue one task; :class:`BroadcastEnqueueError` if the broker refuses or is down."""
    app = celery_app()
    options: dict[str, Any] = {"retry": True, "retry_policy": RETRY_POLICY}
    if queue:
        options["queue"] = queue
    task = app.tasks.get(task_name)
    if task is None and app.conf.task_always_eager:
        raise ImproperlyConfigured(
            f"Celery task {task_name!r} is not registered with app {app.main!r}: call "
            "app.autodiscover_tasks() (or include 'ws_routes.tasks') so it can run eagerly"
        )
    try:
        if task is not None:
            task.apply_async(args=args, **options)
        else:
            app.send_task(task_name, args=args, **options)
    except Exception as exc:
        raise BroadcastEnqueueError(
            f"the Celery broker did not take the broadcast ({type(exc).__name__}: {exc}); "
            "nothing was enqueued"
        ) from exc
