"""The example chat's settings for ``bench/soak.py``: PostgreSQL and Redis through fault proxies.

The soak sets the ports and names in the environment; nothing here is for production.
DEBUG is off: with it on, Django keeps every query in memory and RSS would grow by design.
"""

from __future__ import annotations

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import WS_ROUTES

DEBUG = False
PG_PORT = os.environ["SOAK_PG_PORT"]
REDIS_URL = os.environ["SOAK_REDIS_URL"]  # through the Redis proxy
GATEWAY_URL = os.environ["SOAK_GATEWAY_URL"]  # http://127.0.0.1:<port>

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["SOAK_DB_NAME"],
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": PG_PORT,
        # Persistent connections, checked before reuse: after a cut, the next request reconnects.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 2},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    }
}
WS_ROUTES = {
    **WS_ROUTES,
    "MANAGEMENT_ENDPOINT": GATEWAY_URL + "/{stage}",
    # Every client connects from 127.0.0.1: the per-address limit would refuse all but 60.
    "CONNECT_RATE_LIMIT": (1_000_000, 60),
    "TOKEN_TTL_SECONDS": 1800,
    # Shorter than the gateway's injected hang, so a hung post is retried.
    "SEND_TIMEOUT_SECONDS": 2.0,
    "SEND_RATE_LIMIT": 5000,
    "SEND_RATE_LIMIT_REDIS_URL": REDIS_URL,
    "BACKGROUND_QUEUE": os.environ["SOAK_QUEUE"],
    "BACKGROUND_SHARD_SIZE": 250,
    "BACKGROUND_SHARD_LEASE_SECONDS": 10,
    "HISTORY_NEW_CHANNELS_PER_USER": None,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
