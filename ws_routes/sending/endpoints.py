"""Where a session's posts go: the ``@connections`` endpoint of its gateway stage.

A send asks an :class:`EndpointResolver` for the endpoint of each ``(api_id, stage)`` it meets.
:class:`SettingsEndpoints` (the default) builds it from ``WS_ROUTES["MANAGEMENT_ENDPOINT"]`` and
``WS_ROUTES["REGION"]``; another resolver (e.g. one reading the gateway's own region) can be
passed to the delivery instead.

Example::

    resolve = SettingsEndpoints(ws_settings())
    endpoint = resolve("abc123", "prod")  # an Endpoint, or a string saying why there is none
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..conf import ws_settings
from ..contract import valid_stage
from . import process

# What the view accepts in X-Ws-Api-Id / X-Ws-Stage (security.py), but never empty. Checked
# because they end up in a URL: a hostile value must not point the signed request at another
# host or path.
_API_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STAGE_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_CONNECTION_ID_MAX = 128
_DEFAULT_TEMPLATE = "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


@dataclass(frozen=True)
class Endpoint:
    """One management API endpoint: ``url`` (scheme, host, stage path) and its signing region."""

    url: str
    region: str
    scheme: str = field(init=False, repr=False, compare=False)
    hostname: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)
    host: str = field(init=False, repr=False, compare=False)  # the Host header
    path: str = field(init=False, repr=False, compare=False)
    is_aws: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            port = parts.port
        except ValueError as exc:
            raise ImproperlyConfigured(f"management endpoint {self.url!r}: {exc}") from exc
        hostname = parts.hostname or ""
        if (
            parts.scheme not in ("http", "https")
            or not hostname
            or not hostname.isascii()
            or parts.query
            or parts.fragment
            or parts.username
            or not parts.path.isascii()
        ):
            raise ImproperlyConfigured(
                f"management endpoint {self.url!r} is not an http(s) URL with an ASCII host "
                "and path, and no query, fragment or user"
            )
        default_port = 443 if parts.scheme == "https" else 80
        host = f"[{hostname}]" if ":" in hostname else hostname
        if port and port != default_port:
            host = f"{host}:{port}"
        path = quote(parts.path.rstrip("/"), safe="/@%:~!$&'()*+,;=-._")
        set_field = object.__setattr__
        set_field(self, "scheme", parts.scheme)
        set_field(self, "hostname", hostname)
        set_field(self, "port", port or default_port)
        set_field(self, "host", host)
        set_field(self, "path", path)
        set_field(self, "is_aws", hostname.endswith(".amazonaws.com"))

    def connection_path(self, connection_id: str) -> str:
        """The percent-encoded path of one connection: ``/prod/@connections/Ab1%3D``."""
        return f"{self.path}/@connections/{quote(connection_id, safe='')}"


def management_endpoint(api_id: str, stage: str, region: str | None) -> str:
    """The ``@connections`` base URL of one gateway stage.

    ``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}`` unless
    ``WS_ROUTES["MANAGEMENT_ENDPOINT"]`` overrides it (it may use ``{api_id}``, ``{stage}`` and
    ``{region}``). Values that would change the URL's host or path are refused (``ValueError``).

    Example::

        management_endpoint("abc123", "prod", "eu-west-2")
        # 'https://abc123.execute-api.eu-west-2.amazonaws.com/prod'
    """
    return _endpoint_url(ws_settings()["MANAGEMENT_ENDPOINT"], api_id, stage, region)


def _endpoint_url(template: str | None, api_id: str, stage: str, region: str | None) -> str:
    template = template or _DEFAULT_TEMPLATE
    if "{api_id}" in template and not _API_ID_RE.fullmatch(api_id or ""):
        raise ValueError(f"session has no valid API id ({api_id!r}) to build its endpoint from")
    if "{stage}" in template and not valid_stage(stage):  # never "." or "..": a path segment
        raise ValueError(f"session has no valid stage ({stage!r}) to build its endpoint from")
    if "{region}" in template and not (region and _STAGE_RE.fullmatch(region)):
        raise ImproperlyConfigured(
            "no AWS region for the management API: set WS_ROUTES['REGION'] or AWS_REGION"
        )
    return template.format(api_id=api_id, stage=stage, region=region).rstrip("/")


class EndpointResolver(Protocol):
    """Where the posts of one ``(api_id, stage)`` go: an :class:`Endpoint`, or a string saying
    why there is none (those recipients are failed with it). Called in the sending thread,
    never in the loop, so it may read the database; one instance serves one send.
    """

    def __call__(self, api_id: str, stage: str) -> Endpoint | str: ...


class SettingsEndpoints:
    """Endpoints from the settings, built once per (api_id, stage); errors remembered likewise."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.template: str | None = settings["MANAGEMENT_ENDPOINT"]
        needs_region = not self.template or "{region}" in self.template
        self.region = settings["REGION"] or process.chain_region()
        if needs_region and not self.region:
            raise ImproperlyConfigured(
                "no AWS region for the management API: set WS_ROUTES['REGION'] or AWS_REGION "
                "(or WS_ROUTES['MANAGEMENT_ENDPOINT'] for a local gateway)"
            )
        # A local endpoint without {region} still needs one to sign with; any will do.
        self.signing_region = self.region or "us-east-1"
        self._cache: dict[tuple[str, str], Endpoint | str] = {}

    def __call__(self, api_id: str, stage: str) -> Endpoint | str:
        key = (api_id, stage)
        found = self._cache.get(key)
        if found is None:
            try:
                url = _endpoint_url(self.template, api_id, stage, self.region)
                found = Endpoint(url, self.signing_region)
            except (ValueError, ImproperlyConfigured) as exc:
                found = str(exc)
            self._cache[key] = found
        return found


def valid_connection_id(connection_id: Any) -> bool:
    """Whether ``connection_id`` can be put in a URL path as API Gateway's ids can."""
    return (
        isinstance(connection_id, str)
        and 0 < len(connection_id) <= _CONNECTION_ID_MAX
        and connection_id not in (".", "..")
        and connection_id.isprintable()
    )
