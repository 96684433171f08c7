"""The reference 4.1.0 tests/settings.py, with ws_routes in place of the reference's app."""

import os

DEBUG = False
SECRET_KEY = "reference-shim-not-secret"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "ws_routes",
    "tests",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
]
ROOT_URLCONF = "tests.urls"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
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
AUTH_USER_MODEL = "auth.User"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# What a migrating project sets (docs/migrating.md): a gateway secret, the reference's token
# parameter so its clients' URLs keep working, and its site's origin (the reference let a
# cookie login in when the Origin named the Host; here a browser's cookie login is let in only
# from ALLOWED_ORIGINS: "List your origins, or keep USE_WS_TOKEN = True").
WS_ROUTES = {
    "GATEWAY_SECRETS": ["reference-shim-gateway-secret-0123456789abcdef"],
    "TOKEN_QUERY_PARAM": "ws_token",
    "ALLOWED_ORIGINS": ["https://www.example.com"],
}

# No AWS call may leave this machine: the reference's tests patch their own boto3 factory,
# which the shim does not have, so ours would otherwise reach out. Fake credentials (no
# instance-metadata lookup) and endpoints on a closed loopback port make every call fail fast.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
)
WS_ROUTES["MANAGEMENT_ENDPOINT"] = "http://127.0.0.1:9/{stage}"
WS_ROUTES["SEND_MAX_RETRIES"] = 0
WS_ROUTES["SEND_TIMEOUT_SECONDS"] = 2.0
