"""Where a session's posts go: the ``@connections`` endpoint of its gateway stage.

A send asks an :class:`EndpointResolver` for the endpoint of each ``(api_id, stage)`` it meets.
:class:`SettingsEndpoints` (the default) builds it from the endpoint override
(``WS_ROUTES["MANAGEMENT_ENDPOINT"]``, else boto3's ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``)
or AWS's host for the region (``WS_ROUTES["REGION"]``, else boto3's chain), in the region's
partition (``amazonaws.com``, ``amazonaws.com.cn``...). A subclass may give each API its own
region (:meth:`SettingsEndpoints.gateway_region`): the models' ``send()`` methods pass one that
reads the ``ApiGateway`` row of the API (``ws_routes.gateway_endpoints``).

Example::

    resolve = SettingsEndpoints(ws_settings())
    endpoint = resolve("abc123", "prod")  # an Endpoint, or a string saying why there is none
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..aws_partitions import execute_api_host, is_aws_host
from ..conf import ws_settings
from ..contract import valid_stage
from ..endpoint_override import local_gateway_url
from . import process

# What the view accepts in X-Ws-Api-Id / X-Ws-Stage (security.py), but never empty. Checked
# because they end up in a URL: a hostile value must not point the signed request at another
# host or path.
_API_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STAGE_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_CONNECTION_ID_MAX = 128
_REGION_RE = re.compile(r"[a-z0-9-]{1,32}")
#: boto3's service-specific endpoint override for this API (service id
#: "ApiGatewayManagementApi": AWS_ENDPOINT_URL_ + the id upper-cased), and the switch that
#: turns such overrides off. https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
ENDPOINT_ENV = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
_IGNORE_ENDPOINTS_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
_NO_REGION = (
    "no AWS region for the management API of API {api_id!r}: set the region of its ApiGateway "
    "row, WS_ROUTES['REGION'] or AWS_REGION (or WS_ROUTES['MANAGEMENT_ENDPOINT'] for a local "
    "gateway)"
)


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
        set_field(self, "is_aws", is_aws_host(hostname))

    def connection_path(self, connection_id: str) -> str:
        """The percent-encoded path of one connection: ``/prod/@connections/Ab1%3D``."""
        return f"{self.path}/@connections/{quote(connection_id, safe='')}"


def management_endpoint(api_id: str, stage: str, region: str | None) -> str:
    """The ``@connections`` base URL of one gateway stage.

    ``https://{api_id}.execute-api.{region}.{partition's DNS suffix}/{stage}`` unless
    ``WS_ROUTES["MANAGEMENT_ENDPOINT"]`` or ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``
    overrides it (it may use ``{api_id}``, ``{stage}`` and ``{region}``). Values that would
    change the URL's host or path are refused (``ValueError``).

    Example::

        management_endpoint("abc123", "prod", "eu-west-2")
        # 'https://abc123.execute-api.eu-west-2.amazonaws.com/prod'
    """
    return _endpoint_url(endpoint_override(ws_settings()), api_id, stage, region)


def endpoint_override(settings: dict[str, Any]) -> str | None:
    """The endpoint template that replaces AWS's host, if any: ``MANAGEMENT_ENDPOINT``, else
    ``LOCAL_GATEWAY`` + ``/{stage}``, else boto3's ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``
    (an explicit setting wins over the environment, as an explicit ``endpoint_url`` does in
    boto3), unless
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true. Example: ``endpoint_override(ws_settings())``.
    """
    if settings["MANAGEMENT_ENDPOINT"]:
        return str(settings["MANAGEMENT_ENDPOINT"])
    local = local_gateway_url(settings.get("LOCAL_GATEWAY") or "")
    if local is not None:  # the stage is the path under the local gateway, as on AWS
        return f"{local}/{{stage}}"
    if os.environ.get(_IGNORE_ENDPOINTS_ENV, "").strip().lower() == "true":
        return None
    return os.environ.get(ENDPOINT_ENV, "").strip() or None


def _endpoint_url(template: str | None, api_id: str, stage: str, region: str | None) -> str:
    if "{api_id}" in (template or "{api_id}") and not _API_ID_RE.fullmatch(api_id or ""):
        raise ValueError(f"session has no valid API id ({api_id!r}) to build its endpoint from")
    # never "." or "..": a path segment
    if "{stage}" in (template or "{stage}") and not valid_stage(stage):
        raise ValueError(f"session has no valid stage ({stage!r}) to build its endpoint from")
    if "{region}" in (template or "{region}") and not (region and _REGION_RE.fullmatch(region)):
        raise ImproperlyConfigured(_NO_REGION.format(api_id=api_id))
    if template is None:
        assert region is not None
        return f"https://{execute_api_host(api_id, region)}/{stage}"
    return template.format(api_id=api_id, stage=stage, region=region).rstrip("/")


class EndpointResolver(Protocol):
    """Where the posts of one ``(api_id, stage)`` go: an :class:`Endpoint`, or a string saying
    why there is none (those recipients are failed with it). Called in the sending thread,
    never in the loop, so it may read the database; one instance serves one send.
    """

    def __call__(self, api_id: str, stage: str) -> Endpoint | str: ...


class SettingsEndpoints:
    """Endpoints from the settings, built once per (api_id, stage); errors remembered likewise.

    The region of an API is :meth:`gateway_region` (none here), else ``WS_ROUTES["REGION"]``,
    else boto3's chain; an override without ``{region}`` is signed with the latter two. With
    no region at all where one is needed, the send raises ``ImproperlyConfigured`` before
    anything is posted.
    """

    #: Whether the settings alone must already give a region (no per-API region to come).
    regions_per_api = False

    def __init__(self, settings: dict[str, Any]) -> None:
        self.template: str | None = endpoint_override(settings)
        self.needs_region = not self.template or "{region}" in self.template
        self.region: str | None = settings["REGION"] or process.chain_region()
        if self.needs_region and not self.region and not self.regions_per_api:
            raise ImproperlyConfigured(_NO_REGION.format(api_id="*"))
        self._cache: dict[tuple[str, str], Endpoint | str] = {}

    def gateway_region(self, api_id: str) -> str | None:
        """The region of this API's own gateway, if known (overridden on the models side)."""
        return None

    def __call__(self, api_id: str, stage: str) -> Endpoint | str:
        key = (api_id, stage)
        found = self._cache.get(key)
        if found is None:
            region = self.region
            # The API's own region where it builds the URL (AWS's host, or an override with
            # {region}); an override without one is signed with the settings' region.
            if (self.needs_region or not region) and _API_ID_RE.fullmatch(api_id or ""):
                region = self.gateway_region(api_id) or region
            if self.needs_region and not region and _API_ID_RE.fullmatch(api_id or ""):
                raise ImproperlyConfigured(_NO_REGION.format(api_id=api_id))
            try:
                url = _endpoint_url(self.template, api_id, stage, region)
                # A local endpoint without {region} still needs one to sign with; any will do.
                found = Endpoint(url, region or "us-east-1")
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
