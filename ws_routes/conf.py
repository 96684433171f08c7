"""The ``WS_ROUTES`` settings dict: every default lives here, read through :func:`ws_settings`.

Example::

    WS_ROUTES = {
        "GATEWAY_SECRETS": [env("WS_GATEWAY_SECRET")],   # first one is pushed to the gateway
        "ALLOWED_ORIGINS": ["https://www.example.com"],
        "REGION": "eu-west-2",
    }
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.signals import setting_changed

from .compat.reference_settings import WATCHED_SETTINGS, fallbacks

T = TypeVar("T")

DEFAULTS: dict[str, Any] = {
    # Secrets API Gateway sends in X-Ws-Secret. Any entry is accepted (rotation); the first one
    # is the one written into the gateway's integration by syncroutes. A list of strings of 32
    # to 256 characters from A-Z a-z 0-9 . _ ~ + / = -; empty or anything else refuses every
    # call (DEBUG included).
    "GATEWAY_SECRETS": [],
    # The gateways ws_routes.aws_lambda.handler answers (AWS_PROXY has no secret header): a list
    # of "apiId/stage" or "apiId" (any stage). None: the api_id/stage_name of the ApiGateway
    # rows (read once a minute per container). An event from anything else gets a 403.
    "LAMBDA_GATEWAYS": None,
    # Key of the message body that names the route (API Gateway: $request.body.<key>).
    "ROUTE_SELECTION_KEY": "action",
    # Largest message body the view reads, in bytes (API Gateway's own limit is 128 KB).
    "MAX_BODY_BYTES": 128 * 1024,
    # Deepest nesting of lists/objects a message may have; deeper is refused as invalid_json
    # (a reply nested ~900 levels would not even encode).
    "MAX_JSON_DEPTH": 64,
    # Browser origins allowed to open a socket, exact "scheme://host[:port]" strings, or "*".
    # Empty: a browser (one that sends Origin) may connect only with a one-time token, never on
    # the strength of its cookie alone (that would allow cross-site WebSocket hijacking).
    "ALLOWED_ORIGINS": [],
    # Refuse anonymous connects (401) instead of letting login_required routes refuse later.
    "CONNECT_LOGIN_REQUIRED": False,
    # One-time connect tokens: query parameter, lifetime.
    "TOKEN_QUERY_PARAM": "token",
    "TOKEN_TTL_SECONDS": 60,
    # Tokens one user may mint per minute at the token view (then 429).
    "TOKEN_RATE_LIMIT_PER_MINUTE": 30,
    # ?channel= on connect: query parameter, allowed shape, and the channel when none is given.
    "CHANNEL_QUERY_PARAM": "channel",
    "CHANNEL_PATTERN": r"[A-Za-z0-9_.:@-]{1,128}",
    "DEFAULT_CHANNEL": "",
    # Channels (docs/channels.md). A channel name no @router.channel() rule matches is refused
    # on connect and subscribe; True lets any well-formed name through (the old behaviour).
    "ALLOW_UNREGISTERED_CHANNELS": False,
    # Channels one socket may follow at once (a subscribe storm gets too_many_subscriptions).
    "MAX_SUBSCRIPTIONS_PER_SOCKET": 50,
    # Dotted path to describe(user) -> dict, what presence pushes and members() show of a user.
    # None: {"username": ...} only.
    "PRESENCE_USER": None,
    # Bytes of missed messages a subscribe reply carries at most (API Gateway caps a reply at
    # 128 KB); beyond that the reply says more: true and the client asks channel.history.
    "HISTORY_REPLAY_BYTES": 96 * 1024,
    # Kept history older than this many seconds is deleted, whatever its rule keeps: a batch
    # with every pruning write and all of it by clearWebSocketSessions (None: kept as the
    # rules say). A channel whose history all expired numbers from 1 again.
    "HISTORY_MAX_AGE_SECONDS": 24 * 3600,
    # (channels, seconds): new history channels one user's messages may start per window
    # (Django cache; then too_many_channels, 429). None: no limit.
    "HISTORY_NEW_CHANNELS_PER_USER": (100, 3600),
    # Connect attempts allowed per source IP per window (Django cache; None turns it off).
    "CONNECT_RATE_LIMIT": (60, 60),
    "CACHE_ALIAS": "default",
    # How long a user's permission set is cached for ``permission=`` routes, so a message stays
    # at one SQL query; a revoked permission reaches open sockets within this time. 0: no cache.
    "PERMISSION_CACHE_SECONDS": 60,
    # AWS region of the gateways; None uses boto3's own chain (AWS_REGION, config file...).
    "REGION": None,
    # Management API endpoint override, e.g. "http://127.0.0.1:8001" for the local gateway.
    # May use {api_id}, {stage} and {region}.
    "MANAGEMENT_ENDPOINT": None,
    # Fan-out: concurrent posts in flight, retries of throttled/5xx posts, per-post timeout.
    # 200 in flight at 20 ms of latency is 10,000 posts/s, API Gateway's per-account quota.
    "SEND_CONCURRENCY": 200,
    "SEND_MAX_RETRIES": 3,
    "SEND_TIMEOUT_SECONDS": 10.0,
    # Rows fetched per database round trip when broadcasting to a queryset.
    "SEND_CHUNK_SIZE": 2000,
    # Retry backoff: full jitter over base * 2**attempt seconds, capped.
    "SEND_BACKOFF_BASE_SECONDS": 0.05,
    "SEND_BACKOFF_MAX_SECONDS": 2.0,
    # One rate budget for the account, in posts/s across every process and worker (None: off).
    # API Gateway's quota is 10,000 requests/s per account and region (2,500 in some regions),
    # shared with every other API of the account. See docs/background.md.
    "SEND_RATE_LIMIT": None,
    # Redis holding the shared token bucket, e.g. "redis://127.0.0.1:6379/0" (needs the
    # [celery] extra). None: the limit is enforced per process instead.
    "SEND_RATE_LIMIT_REDIS_URL": None,
    # The bucket's key in Redis (one per account and region sharing a quota).
    "SEND_RATE_LIMIT_KEY": "ws_routes:send_rate",
    # Tokens taken from Redis per round trip (at most 5% of the limit).
    "SEND_RATE_LIMIT_BATCH": 100,
    # Posts/s of one process while Redis is unreachable (logged); None: 10% of SEND_RATE_LIMIT.
    "SEND_RATE_LIMIT_FALLBACK": None,
    # First retry delay of a connection answered 429 alone (its client's buffer is full).
    "SEND_CONNECTION_BACKOFF_SECONDS": 0.25,
    # Background sends (queryset.send(data, background=True), docs/background.md): recipients
    # per shard (one Celery task each), sends at most this big run in-process instead (0: never),
    # seconds a worker holds a shard before another may take it over (must exceed the time a
    # shard takes, and be at most the broker's visibility timeout), attempts before a shard is
    # failed, and the Celery queue (None: the app's default).
    "BACKGROUND_SHARD_SIZE": 1000,
    "BACKGROUND_INLINE_MAX": 0,
    "BACKGROUND_SHARD_LEASE_SECONDS": 120,
    "BACKGROUND_SHARD_MAX_ATTEMPTS": 3,
    "BACKGROUND_QUEUE": None,
    # The most recipients a shard redelivered after its worker died sends the message again:
    # no post starts more than this many past the shard's last recorded checkpoint (one UPDATE:
    # the last primary key and the counts), recorded every this - min(SEND_CONCURRENCY,
    # this // 2) recipients, so up to two per this many posts. From 1 to 100,000.
    "SHARD_CHECKPOINT": 100,
    # How posts reach the management API: a dotted path or an instance of a Transport
    # (ws_routes.sending.HttpTransport, or Boto3Transport to go through botocore, e.g. moto).
    "SEND_TRANSPORT": "ws_routes.sending.HttpTransport",
    # After every ``migrate``, sync each ApiGateway with sync_on_migrate=True (deploy pipelines
    # run migrate; docs/auto-sync.md). Off by default: a migrate then never calls AWS.
    "SYNC_ON_MIGRATE": False,
    # The local API Gateway (runwsgateway), e.g. "http://127.0.0.1:8001": one setting points
    # sends (MANAGEMENT_ENDPOINT "<it>/{stage}"), the control plane (syncroutes, the admin's
    # "Sync routes") and the admin at it; the two settings below still win when set. http://
    # is refused unless the host is loopback (signed requests would travel in clear).
    # docs/local-gateway.md.
    "LOCAL_GATEWAY": None,
    # endpoint_url of the apigatewayv2 client (the local gateway's control plane, e.g.
    # "http://127.0.0.1:8001"); None: boto3's own AWS_ENDPOINT_URL_APIGATEWAYV2, else AWS.
    "AWS_ENDPOINT_URL_APIGATEWAYV2": None,
    # Pace of control-plane calls, per process and region: a token bucket of this many calls
    # per second and this burst (AWS throttles an account's control plane at about 10/s, burst
    # 40; docs/aws-fidelity.md). None: unpaced.
    "DEPLOY_CALLS_PER_SECOND": 10.0,
    "DEPLOY_CALLS_BURST": 40,
    # Seconds between two CreateDeployment calls of a process (AWS: 1 every 5 s per account).
    "DEPLOY_DEPLOYMENT_INTERVAL_SECONDS": 5.0,
    # A throttled control-plane call (TooManyRequestsException) is retried this many times,
    # with full-jitter backoff from 1 s (capped at 20 s), before the sync fails naming it.
    "DEPLOY_THROTTLE_RETRIES": 6,
    # How long a sync waits for a PENDING deployment to become DEPLOYED or FAILED.
    "DEPLOY_DEPLOYMENT_WAIT_SECONDS": 30.0,
    # The CloudFormation template of the gateways, as `syncroutes --emit cloudformation` writes
    # it (docs/infrastructure-as-code.md): `check --deploy` warns when the registry no longer
    # matches it. A path; "{gateway}" in it names one file per gateway. None: not checked.
    "TEMPLATE_FILE": None,
}


def merged_settings() -> Mapping[str, Any]:
    """The merged settings, computed once and kept until a setting changes (read-only).

    ``DEFAULTS``, then the reference package's settings (``WEBSOCKETS``,
    ``AWS_GATEWAY_REGION_NAME``: deprecated fallbacks), then ``settings.WS_ROUTES``. Django's
    ``setting_changed`` signal (``override_settings``, pytest-django's ``settings`` fixture)
    drops the cache, so tests see every change; a message pays one dict lookup per setting
    instead of a merge. The one place the merge happens: checks of the values belong here too.
    """
    merged = _cache.get(_MERGED)
    if merged is None:
        configured = getattr(settings, "WS_ROUTES", None) or {}
        merged = MappingProxyType({**DEFAULTS, **fallbacks(configured), **configured})
        _cache[_MERGED] = merged
    return cast("Mapping[str, Any]", merged)


def ws_settings() -> dict[str, Any]:
    """The merged settings (see :func:`merged_settings`), as a dict of the caller's own."""
    return dict(merged_settings())


def ws_setting(name: str) -> Any:
    """One setting by name, e.g. ``ws_setting("MAX_BODY_BYTES")``."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown WS_ROUTES setting {name!r}")
    return merged_settings()[name]


#: The type every setting must have, checked by ``manage.py check`` (``ws_routes.E012``, in
#: ``ws_routes.setting_types``). A new setting needs its entry here: tests/test_setting_types.py
#: fails while ``TYPES`` and ``DEFAULTS`` differ. Alternatives are separated by ``|``, each one
#: of ``setting_types.KINDS`` (e.g. ``"int>=1"``, ``"pair[int>=1]"``, ``"None"``).
TYPES: dict[str, str] = {
    "GATEWAY_SECRETS": "list[str]",
    "LAMBDA_GATEWAYS": "None | list[str]",
    "ROUTE_SELECTION_KEY": "name",
    "MAX_BODY_BYTES": "int>=1",
    "MAX_JSON_DEPTH": "int>=1",
    "ALLOWED_ORIGINS": "list[str]",
    "CONNECT_LOGIN_REQUIRED": "bool",
    "TOKEN_QUERY_PARAM": "name",
    "TOKEN_TTL_SECONDS": "int>=1",
    "TOKEN_RATE_LIMIT_PER_MINUTE": "int>=1",
    "CHANNEL_QUERY_PARAM": "name",
    "CHANNEL_PATTERN": "regex",
    "DEFAULT_CHANNEL": "str",
    "ALLOW_UNREGISTERED_CHANNELS": "bool",
    "MAX_SUBSCRIPTIONS_PER_SOCKET": "int>=1",
    "PRESENCE_USER": "None | dotted | callable",
    "HISTORY_REPLAY_BYTES": "int>=0",
    "HISTORY_MAX_AGE_SECONDS": "None | int>=1",
    "HISTORY_NEW_CHANNELS_PER_USER": "None | pair[int>=1]",
    "CONNECT_RATE_LIMIT": "None | pair[int>=1]",
    "CACHE_ALIAS": "name",
    "PERMISSION_CACHE_SECONDS": "number>=0",
    "REGION": "None | name",
    "MANAGEMENT_ENDPOINT": "None | url",
    "SEND_CONCURRENCY": "int>=1",
    "SEND_MAX_RETRIES": "int>=0",
    "SEND_TIMEOUT_SECONDS": "number>0",
    "SEND_CHUNK_SIZE": "int>=1",
    "SEND_BACKOFF_BASE_SECONDS": "number>=0",
    "SEND_BACKOFF_MAX_SECONDS": "number>=0",
    "SEND_RATE_LIMIT": "None | number>0",
    "SEND_RATE_LIMIT_REDIS_URL": "None | url",
    "SEND_RATE_LIMIT_KEY": "name",
    "SEND_RATE_LIMIT_BATCH": "int>=1",
    "SEND_RATE_LIMIT_FALLBACK": "None | number>0",
    "SEND_CONNECTION_BACKOFF_SECONDS": "number>=0",
    "BACKGROUND_SHARD_SIZE": "int>=1",
    "BACKGROUND_INLINE_MAX": "int>=0",
    "BACKGROUND_SHARD_LEASE_SECONDS": "number>0",
    "BACKGROUND_SHARD_MAX_ATTEMPTS": "int>=1",
    "BACKGROUND_QUEUE": "None | name",
    "SHARD_CHECKPOINT": "int>=1",
    "SEND_TRANSPORT": "dotted | object",
    "SYNC_ON_MIGRATE": "bool",
    "LOCAL_GATEWAY": "None | url",
    "AWS_ENDPOINT_URL_APIGATEWAYV2": "None | url",
    "DEPLOY_CALLS_PER_SECOND": "None | number>0",
    "DEPLOY_CALLS_BURST": "int>=1",
    "DEPLOY_DEPLOYMENT_INTERVAL_SECONDS": "number>=0",
    "DEPLOY_THROTTLE_RETRIES": "int>=0",
    "DEPLOY_DEPLOYMENT_WAIT_SECONDS": "number>=0",
    "TEMPLATE_FILE": "None | path",
}


def derived_setting(key: str, build: Callable[[], T]) -> T:
    """``build()``, computed from the settings once and kept until a setting changes.

    Example: the gateway secrets, validated and encoded once instead of on every message
    (``security.configured_gateway_secrets``). An exception is not cached.
    """
    try:
        return cast(T, _cache[key])
    except KeyError:
        value = _cache[key] = build()
        return value


_MERGED = "\x00merged"
#: The merged settings and what ``derived_setting`` built from them; emptied on a change.
_cache: dict[str, Any] = {}


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in WATCHED_SETTINGS:
        _cache.clear()


setting_changed.connect(_forget, dispatch_uid="ws_routes.conf")
