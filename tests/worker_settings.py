"""Settings of a Celery worker started by the tests: the test run's database and endpoint.

``WS_ROUTES_WORKER_DB`` names the database (the SQLite file or PostgreSQL database pytest-django
created) and ``WS_ROUTES_WORKER_OVERRIDES`` (JSON) is merged into ``WS_ROUTES``.
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, WS_ROUTES

DATABASES["default"]["NAME"] = os.environ["WS_ROUTES_WORKER_DB"]
DATABASES["default"].pop("TEST", None)
WS_ROUTES = {**WS_ROUTES, **json.loads(os.environ.get("WS_ROUTES_WORKER_OVERRIDES", "{}"))}
