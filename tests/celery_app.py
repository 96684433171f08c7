"""The Celery app of the tests: Redis broker (DB 7 by default), late acks, one task at a time.

Eager tests set ``task_always_eager``; the worker tests start real worker processes on it::

    DJANGO_SETTINGS_MODULE=tests.worker_settings celery -A tests.celery_app worker --pool=solo
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from celery import Celery  # noqa: E402

BROKER_URL = os.environ.get("WS_ROUTES_TEST_BROKER", "redis://127.0.0.1:6379/7")
#: Seconds before Redis hands an unacknowledged task (its worker died) to another worker.
VISIBILITY_TIMEOUT = float(os.environ.get("WS_ROUTES_TEST_VISIBILITY_TIMEOUT", "3"))

app = Celery("ws_routes_tests")
app.conf.update(
    broker_url=BROKER_URL,
    # Redis sweeps unacknowledged tasks every interval * throttle seconds (10 * 10 by default).
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
    broker_connection_retry_on_startup=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=os.environ.get("WS_ROUTES_TEST_QUEUE", "ws_routes_tests"),
    task_always_eager=False,
    worker_hijack_root_logger=False,
)

import ws_routes.tasks  # noqa: E402,F401 - registers the tasks with this app
