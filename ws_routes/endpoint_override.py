"""Where the ``apigatewayv2`` client goes: ``WS_ROUTES["AWS_ENDPOINT_URL_APIGATEWAYV2"]``.

boto3 itself honours the environment variable ``AWS_ENDPOINT_URL_APIGATEWAYV2`` (and
``endpoint_url`` in the config file's service section): that is its documented convention for
service-specific endpoints, and what points the library at the local gateway's control plane.
The setting is the same thing from Django settings. Example::

    WS_ROUTES = {"AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:8001"}
    boto3.client("apigatewayv2", endpoint_url=apigatewayv2_endpoint_url())  # None: boto3 decides
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .conf import ws_setting


def apigatewayv2_endpoint_url() -> str | None:
    """The configured endpoint URL, or ``None`` to leave it to boto3 (env var, then AWS)."""
    value = ws_setting("AWS_ENDPOINT_URL_APIGATEWAYV2")
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            "WS_ROUTES['AWS_ENDPOINT_URL_APIGATEWAYV2'] must be an http(s) URL such as "
            f"'http://127.0.0.1:8001' (the local gateway), got {value!r}."
        )
    return value
