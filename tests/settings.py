"""Settings for the test suite: SQLite by default, PostgreSQL when DATABASE_URL says so."""

import os
import tempfile
from urllib.parse import urlsplit

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"  # live_server (end-to-end tests) serves static files under it
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "ws_routes",
    "contrib_admin",
    "tests.testapp",
    "example_project.chat",  # the example chat (own Router, no models): tests/test_example_chat.py
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported by the tests")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "postgres",
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {
    "default": (
        _database_from_url(os.environ["DATABASE_URL"])
        if os.environ.get("DATABASE_URL")
        else {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            # A file, so that threads in the concurrency tests wait on locks like real writers.
            "TEST": {
                "NAME": os.path.join(tempfile.gettempdir(), f"ws_routes_tests_{os.getpid()}.db")
            },
            "OPTIONS": {"timeout": 30},
        }
    )
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

GATEWAY_SECRET = "test-gateway-secret-0123456789-abcdefghijklmnop"
WS_ROUTES = {
    "GATEWAY_SECRETS": [GATEWAY_SECRET],
    "ALLOWED_ORIGINS": ["https://app.example.com"],
    "REGION": "eu-west-2",
    "CONNECT_RATE_LIMIT": None,
    # Control-plane pacing is tested on its own clock (tests/test_aws_fidelity_deploy.py);
    # elsewhere it would only make the suite wait.
    "DEPLOY_CALLS_PER_SECOND": None,
    "DEPLOY_DEPLOYMENT_INTERVAL_SECONDS": 0,
    "DEPLOY_THROTTLE_RETRIES": 0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"]},
}
