"""Django configuration shared by the benchmark's child processes, for either library.

Each measurement runs in its own process (``fanout.py``, ``dispatch.py``) so that one library's
imports, caches and memory never touch the other's numbers. ``configure(lib, db)`` sets Django
up for ``lib`` ("ours", "ref" or "floor") on ``db`` ("sqlite:<path>" or "postgres:<name>").
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

LIBS = ("ours", "ref")
GATEWAY_SECRET = "bench-gateway-secret-0123456789-abcdefghijklmnop"
API_ID = "abc123"
STAGE = "prod"
REGION = "eu-west-2"
PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def database(db: str) -> dict[str, Any]:
    kind, _, name = db.partition(":")
    # Persistent connections, as any production deployment has them: with Django's default
    # CONN_MAX_AGE=0 every message would also pay for opening a PostgreSQL connection. The same
    # setting applies to all three contenders.
    if kind == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "CONN_MAX_AGE": 600}
    if kind == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": PG_DSN["user"],
            "HOST": PG_DSN["host"],
            "PORT": str(PG_DSN["port"]),
            "CONN_MAX_AGE": 600,
        }
    raise ValueError(f"unknown database {db!r}")


def recreate_postgres_database(name: str) -> None:
    """Drop and create ``name`` on the local server (a benchmark-only database)."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG_DSN) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG_DSN) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(dbname="postgres", connect_timeout=2, **PG_DSN):
            return True
    except Exception:
        return False


def configure(lib: str, db: str, *, urlconf: str | None = None, endpoint: str = "") -> None:
    """``settings.configure`` + ``django.setup()`` for one library, then migrate."""
    import django
    from django.conf import settings

    apps = ["django.contrib.contenttypes", "django.contrib.auth"]
    extra: dict[str, Any] = {}
    if lib == "ours":
        apps.append("ws_routes")
        extra["WS_ROUTES"] = {
            "GATEWAY_SECRETS": [GATEWAY_SECRET],
            "REGION": REGION,
            "CONNECT_RATE_LIMIT": None,
            "MANAGEMENT_ENDPOINT": endpoint + "/{stage}" if endpoint else None,
        }
    elif lib == "ref":
        apps.append("django_aws_api_gateway_websockets")
        extra["AWS_REGION_NAME"] = REGION
        extra["WEBSOCKETS"] = {"gateway_secret": GATEWAY_SECRET}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        INSTALLED_APPS=apps,
        MIDDLEWARE=[],
        ROOT_URLCONF=urlconf,
        DATABASES={"default": database(db)},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        LOGGING_CONFIG=None,
        **extra,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def seed_sessions(lib: str, count: int, channel: str, prefix: str = "Conn") -> None:
    """``count`` connected sessions on ``channel`` (and the reference's gateway row)."""
    ids = (f"{prefix}{i:09d}AbCdEfGh=" for i in range(count))
    if lib == "ours":
        from ws_routes.models import WebSocketSession

        rows = (
            WebSocketSession(connection_id=cid, channel_name=channel, api_id=API_ID, stage=STAGE)
            for cid in ids
        )
    else:
        from django_aws_api_gateway_websockets.models import ApiGateway, WebSocketSession

        gateway = ApiGateway.objects.filter(api_id=API_ID).first()
        if gateway is None:
            gateway = ApiGateway.objects.create(
                api_name="bench", api_id=API_ID, stage_name=STAGE, api_created=True
            )
        rows = (
            WebSocketSession(connection_id=cid, channel_name=channel, api_gateway=gateway)
            for cid in ids
        )
    from itertools import islice

    model = WebSocketSession
    while batch := list(islice(rows, 5000)):
        model.objects.bulk_create(batch)


def rss_kib() -> int:
    """Current resident set size, KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def emit(report: dict[str, Any]) -> None:
    """The child's one line of output, read by run.py."""
    sys.stdout.write("RESULT " + json.dumps(report) + "\n")
    sys.stdout.flush()
