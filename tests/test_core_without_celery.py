"""The core imports and sends without the [celery] extra (celery, kombu, redis absent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import sys
for name in ("celery", "kombu", "redis"):
    sys.modules[name] = None  # import of it raises ImportError
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test.utils import setup_test_environment
settings.DATABASES["default"]["NAME"] = ":memory:"
call_command("migrate", verbosity=0)
import contrib_admin.admin, ws_routes.models, ws_routes.management.commands.broadcast  # noqa
from django.core.exceptions import ImproperlyConfigured
from ws_routes.models import WebSocketSession, Broadcast
WebSocketSession.objects.create(connection_id="a=", channel_name="x", api_id="a", stage="p")
try:
    WebSocketSession.objects.send({"n": 1}, background=True)
except ImproperlyConfigured as exc:
    assert "[celery]" in str(exc), exc
else:
    raise SystemExit("background=True did not refuse without Celery")
assert not Broadcast.objects.exists()
try:
    import ws_routes.tasks
except ImportError:
    pass
else:
    raise SystemExit("ws_routes.tasks imported without celery")
print("OK")
"""


def test_core_works_without_the_celery_extra():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # in-memory SQLite
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("OK")
