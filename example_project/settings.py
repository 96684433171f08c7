"""Settings of the example chat: SQLite, DEBUG, the local gateway on 127.0.0.1 (``make demo``).

Ports, the database file and the secrets can be set from the environment (the browser test runs
the project on free ports with a throwaway database); the defaults are what ``make demo`` uses.
Never deploy these settings: DEBUG is on and the secrets are generated for this checkout only.
"""

from __future__ import annotations

import os
from pathlib import Path

from example_project.devsecrets import dev_secrets

BASE_DIR = Path(__file__).resolve().parent

HTTP_PORT = int(os.environ.get("CHAT_HTTP_PORT", "8000"))
GATEWAY_PORT = int(os.environ.get("CHAT_GATEWAY_PORT", "8001"))


_generated = (
    {}
    if os.environ.get("CHAT_SECRET_KEY") and os.environ.get("CHAT_GATEWAY_SECRET")
    else dev_secrets(BASE_DIR / ".dev-secrets.json")
)
SECRET_KEY = os.environ.get("CHAT_SECRET_KEY") or _generated["secret_key"]
GATEWAY_SECRET = os.environ.get("CHAT_GATEWAY_SECRET") or _generated["gateway_secret"]

DEBUG = os.environ.get("CHAT_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ws_routes",
    "contrib_admin",  # the gateway, its routes, live sessions: /admin/ (make demo syncs it)
    "example_project.chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CHAT_DATABASE") or BASE_DIR / "db.sqlite3",
        # runserver answers the gateway's POSTs in threads: wait on SQLite's lock, don't fail.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"

# The stage rundemo deploys the chat's API to on the local gateway (API Gateway: "production").
DEMO_STAGE = "local"
# Where the browser opens its WebSocket: the API's endpoint and stage, on the local gateway
# (API Gateway's wss://{api-id}.execute-api.{region}.amazonaws.com/{stage} in production).
CHAT_WEBSOCKET_URL = os.environ.get(
    "CHAT_WEBSOCKET_URL", f"ws://127.0.0.1:{GATEWAY_PORT}/{DEMO_STAGE}"
)
# The demo never calls AWS: syncroutes and the admin's "Sync routes" reach the local gateway's
# control plane (boto3's own AWS_ENDPOINT_URL_APIGATEWAYV2). No credentials are set here: a
# well-known pair would let anyone who knows it drive a runwsgateway started with these
# settings. rundemo generates a pair per run for both servers; runwsgateway alone prints the
# pair it generated (export it where runserver runs).
LOCAL_CONTROL_PLANE = f"http://127.0.0.1:{GATEWAY_PORT}"
os.environ.setdefault("AWS_ENDPOINT_URL_APIGATEWAYV2", LOCAL_CONTROL_PLANE)

WS_ROUTES = {
    "GATEWAY_SECRETS": [GATEWAY_SECRET],
    # The pages' own origins: the browser sends Origin with the WebSocket handshake.
    "ALLOWED_ORIGINS": [f"http://127.0.0.1:{HTTP_PORT}", f"http://localhost:{HTTP_PORT}"],
    # session.send() posts to the local gateway's @connections API (under the stage) instead of AWS.
    "MANAGEMENT_ENDPOINT": f"http://127.0.0.1:{GATEWAY_PORT}/{{stage}}",
    "AWS_ENDPOINT_URL_APIGATEWAYV2": LOCAL_CONTROL_PLANE,
    "REGION": "us-east-1",
    "CONNECT_LOGIN_REQUIRED": True,
    "DEFAULT_CHANNEL": "lobby",
    # rundemo --lambda: ws_routes.aws_lambda.handler answers only this API and stage (the
    # local gateway's quick-start stage); on AWS, the gateway rows (or your API's id) instead.
    "LAMBDA_GATEWAYS": [f"localws001/{DEMO_STAGE}"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"ws_routes": {"handlers": ["console"], "level": "INFO"}},
}
