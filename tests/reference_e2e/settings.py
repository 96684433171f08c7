"""Settings of the reference package's own project, as a user of it would write them.

Everything the run varies comes from the environment ``tests/test_reference_e2e.py`` sets:
the SQLite file, the local gateway's credentials and the gateway secret.
"""

import os

SECRET_KEY = "reference-e2e-" + "k" * 40
DEBUG = False
# The reference compares the raw Host header (with its port) with ALLOWED_HOSTS.
ALLOWED_HOSTS = ["127.0.0.1", os.environ.get("REFERENCE_E2E_HOST", "127.0.0.1")]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["REFERENCE_E2E_DB"]}
}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_aws_api_gateway_websockets",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "reference_e2e.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# The reference package's documented settings: its boto3 clients sign with these.
AWS_ACCESS_KEY_ID = os.environ["REFERENCE_E2E_KEY_ID"]
AWS_SECRET_ACCESS_KEY = os.environ["REFERENCE_E2E_SECRET_KEY"]
AWS_REGION_NAME = "us-east-1"
WEBSOCKETS = {"gateway_secret": os.environ["REFERENCE_E2E_GATEWAY_SECRET"]}
