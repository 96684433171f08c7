"""Just enough settings to import the reference package (the skip probe of the e2e test)."""

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_aws_api_gateway_websockets",
]
SECRET_KEY = "probe"
