"""The soak's Celery app: Redis through the fault proxy, late acks, one task at a time."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.soak_settings")

from celery import Celery  # noqa: E402

app = Celery("ws_routes_soak")
app.conf.update(
    broker_url=os.environ["SOAK_BROKER_URL"],
    broker_transport_options={
        "visibility_timeout": 15,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
    },
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,  # a Redis cut must not end the worker
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=os.environ["SOAK_QUEUE"],
    worker_hijack_root_logger=False,
)

import ws_routes.tasks  # noqa: E402,F401 - registers the tasks with this app
