"""Where the ``apigatewayv2`` client goes, and the one local setting ``LOCAL_GATEWAY``.

boto3 itself honours the environment variable ``AWS_ENDPOINT_URL_APIGATEWAYV2`` (and
``endpoint_url`` in the config file's service section): that is its documented convention for
service-specific endpoints, and what points the library at the local gateway's control plane.
``WS_ROUTES["AWS_ENDPOINT_URL_APIGATEWAYV2"]`` is the same thing from Django settings, and
``WS_ROUTES["LOCAL_GATEWAY"]`` points both halves (the control plane here, the ``@connections``
sends in ``sending.endpoints``) at one local gateway. Example::

    WS_ROUTES = {"LOCAL_GATEWAY": "http://127.0.0.1:8001"}
    boto3.client("apigatewayv2", endpoint_url=apigatewayv2_endpoint_url())  # None: boto3 decides
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .conf import ws_setting

#: boto3's variables for the two halves (AWS SDK reference, "Service-specific endpoints":
#: https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
CONTROL_PLANE_ENV = "AWS_ENDPOINT_URL_APIGATEWAYV2"
MANAGEMENT_ENV = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
IGNORE_ENDPOINTS_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


def is_loopback_host(hostname: str | None) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``)."""
    if not hostname:
        return False
    if hostname.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def local_gateway_url(value: Any = None) -> str | None:
    """``WS_ROUTES["LOCAL_GATEWAY"]`` checked (no trailing ``/``), or None when unset.

    ``ImproperlyConfigured`` for anything but ``http(s)://host[:port]``: no path, query,
    fragment or user:password, and ``http://`` only to a loopback host (a signed request, its
    session token included, would otherwise cross the network in clear).
    """
    if value is None:
        value = ws_setting("LOCAL_GATEWAY")
    if value is None or value == "":
        return None
    wanted = "an http(s)://host[:port] URL such as 'http://127.0.0.1:8001' (runwsgateway's)"
    if not isinstance(value, str) or len(value) > 512:
        raise ImproperlyConfigured(
            f"WS_ROUTES['LOCAL_GATEWAY'] must be {wanted}, not {value!r:.80}."
        )
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ImproperlyConfigured(
            f"WS_ROUTES['LOCAL_GATEWAY'] must be {wanted}, got {value!r:.80}."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ImproperlyConfigured(
            f"WS_ROUTES['LOCAL_GATEWAY'] = {value!r:.80} is http:// to a host that is not "
            "loopback: requests signed with your AWS credentials (and their session token) would "
            "cross the network in clear. Use https://, or 127.0.0.1 where the gateway runs."
        )
    return f"{parts.scheme}://{parts.netloc}"


def apigatewayv2_endpoint_url() -> str | None:
    """The configured endpoint URL, or ``None`` to leave it to boto3 (env var, then AWS).

    ``AWS_ENDPOINT_URL_APIGATEWAYV2`` (the setting) first, then ``LOCAL_GATEWAY``.
    """
    value = ws_setting("AWS_ENDPOINT_URL_APIGATEWAYV2")
    if value is None or value == "":
        return local_gateway_url()
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            "WS_ROUTES['AWS_ENDPOINT_URL_APIGATEWAYV2'] must be an http(s) URL such as "
            f"'http://127.0.0.1:8001' (the local gateway), got {value!r}."
        )
    return value


def half_targets(settings: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str | None]:
    """Where each half goes: ``{"control plane": url or None (AWS), "sends": ...}``, and the
    ``LOCAL_GATEWAY`` value (unchecked) under ``"local gateway"``. Settings win over boto3's
    variables, as ``endpoint_url`` does; ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` drops those."""
    use_env = environ.get(IGNORE_ENDPOINTS_ENV, "").strip().lower() != "true"
    local = str(settings.get("LOCAL_GATEWAY") or "").rstrip("/") or None

    def pick(setting: str, env: str, local_form: str) -> str | None:
        if settings.get(setting):
            return str(settings[setting])
        if local:
            return local_form
        return (environ.get(env, "").strip() or None) if use_env else None

    return {
        "control plane": pick("AWS_ENDPOINT_URL_APIGATEWAYV2", CONTROL_PLANE_ENV, str(local)),
        "sends": pick("MANAGEMENT_ENDPOINT", MANAGEMENT_ENV, f"{local}/{{stage}}"),
        "local gateway": str(local) if local else None,
    }


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url.replace("{", "").replace("}", "")).netloc.lower() or None
    except ValueError:
        return None


def half_configured(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """Why only half of the setup points at a local gateway, or None (both, or neither)."""
    targets = half_targets(settings, environ)
    control, sends = targets["control plane"], targets["sends"]
    hosts = {"control plane": _host_of(control), "sends": _host_of(sends)}
    local = {
        half: is_loopback_host(urlsplit(f"//{h}").hostname) if h else False
        for half, h in hosts.items()
    }
    if local["control plane"] == local["sends"]:
        if local["sends"] and hosts["control plane"] != hosts["sends"]:
            return (
                f"the control plane goes to {control} but sends go to {sends}: two different "
                "local gateways"
            )
        return None
    at_local = "control plane" if local["control plane"] else "sends"
    other = "sends" if at_local == "control plane" else "control plane"
    where = targets[other] or "AWS"
    verb = {"control plane": "goes", "sends": "go"}
    return (
        f"the {at_local} {verb[at_local]} to a local gateway ({targets[at_local]}) but the "
        f"{other} {verb[other]} to {where}"
    )
