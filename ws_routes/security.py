"""Who may call the view and who may connect: gateway secret, origins, connect auth, rate limit.

Every check here that runs before the session lookup touches no database.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
from functools import lru_cache
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches

from .conf import derived_setting, ws_setting
from .contract import SECRET_PATTERN
from .errors import WsError

logger = logging.getLogger("ws_routes")

CONNECTION_ID_PATTERN = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")
API_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{0,64}")


_reported_problems: set[str] = set()


def _report_once(problem: str) -> None:
    """Log a misconfiguration once per process (every call is refused until it is fixed)."""
    if problem not in _reported_problems:
        _reported_problems.add(problem)
        logger.error("%s Every gateway call is refused (403) until this is fixed.", problem)


def configured_gateway_secrets() -> tuple[bytes, ...]:
    """``GATEWAY_SECRETS`` as bytes, or ``()`` when the setting is empty or malformed.

    Validated where it is used, because system checks never run under gunicorn: a string
    (each character would be a secret), ``None`` (an unset environment variable), a number or a
    short secret is refused, never ``str()``-ed into something that matches. Validated once per
    settings change (``conf.derived_setting``), not once per message.
    """
    return derived_setting("GATEWAY_SECRETS", _validated_gateway_secrets)


def _validated_gateway_secrets() -> tuple[bytes, ...]:
    secrets = ws_setting("GATEWAY_SECRETS")
    if not isinstance(secrets, (list, tuple)):
        _report_once(
            f"WS_ROUTES['GATEWAY_SECRETS'] is a {type(secrets).__name__}, not a list of strings: "
            'write WS_ROUTES = {"GATEWAY_SECRETS": [os.environ["WS_GATEWAY_SECRET"]]}.'
        )
        return ()
    if not secrets:
        _report_once(
            "WS_ROUTES['GATEWAY_SECRETS'] is empty (DEBUG does not change that): generate one "
            'with `python -c "import secrets; print(secrets.token_urlsafe(48))"`.'
        )
        return ()
    for index, secret in enumerate(secrets):
        if not isinstance(secret, str) or not SECRET_PATTERN.fullmatch(secret):
            _report_once(
                f"WS_ROUTES['GATEWAY_SECRETS'][{index}] is not a string of 32 to 256 characters "
                "from A-Z a-z 0-9 . _ ~ + / = - (manage.py check names it as ws_routes.E005)."
            )
            return ()
    return tuple(secret.encode("ascii") for secret in secrets)


def gateway_secret_is_valid(provided: str | None) -> bool:
    """Whether ``provided`` matches any configured secret, in constant time.

    Every configured secret is compared (no early exit), so timing says nothing about which one
    matched. Fails closed: no secrets, or a malformed setting, refuses every call (DEBUG too).
    """
    secrets = configured_gateway_secrets()
    if not secrets or not provided:
        return False
    candidate = provided.encode("utf-8", "surrogateescape")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(candidate, secret)
    if not matched:
        _report_wrong_secret()
    return matched


#: Seconds between two "wrong secret" log lines of a process (a scanner cannot flood the log).
WRONG_SECRET_LOG_INTERVAL = 60.0
_wrong_secret_logged_at = [-1e9]


def _report_wrong_secret() -> None:
    """Say which setting to compare when a call carries a secret that matches none (never
    logging either value: the one sent may be a real secret of another environment)."""
    now = time.monotonic()
    if now - _wrong_secret_logged_at[0] < WRONG_SECRET_LOG_INTERVAL:
        return
    _wrong_secret_logged_at[0] = now
    logger.warning(
        "A gateway call was refused (403): its X-Ws-Secret header matches no entry of "
        "WS_ROUTES['GATEWAY_SECRETS']. Compare that setting with the secret in the gateway's "
        "integration (request parameter integration.request.header.X-Ws-Secret, written by "
        "syncroutes; the local gateway: runwsgateway --secret, by default the first entry), then "
        "run syncroutes after changing either. (At most one such line a minute.)"
    )


def clean_source_ip(value: str | None) -> str | None:
    """The client IP API Gateway saw, or ``None`` when the header is absent or not one IP.

    An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is written as the IPv4 address it is.
    """
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


#: The bucket every connect without a usable source IP shares (never "no limit").
UNKNOWN_SOURCE_BUCKET = "unknown"


def rate_limit_bucket(source_ip: str | None) -> str:
    """Which counter a connect from ``source_ip`` counts against.

    IPv4: the address. IPv6: its /64 (one subscriber usually holds a whole /64, so per-address
    counters are no limit). No, or an unparseable, IP: one shared bucket.

    Example: ``rate_limit_bucket("2001:db8::1")`` → ``"2001:db8::/64"``.
    """
    cleaned = clean_source_ip(source_ip)
    if cleaned is None:
        return UNKNOWN_SOURCE_BUCKET
    address = ipaddress.ip_address(cleaned.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


@lru_cache(maxsize=8)
def _channel_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def clean_channel(value: str | None) -> str:
    """The requested channel, the default one when absent; ``WsError`` (400) when malformed."""
    if value is None or value == "":
        return ws_setting("DEFAULT_CHANNEL")
    if not _channel_pattern(ws_setting("CHANNEL_PATTERN")).fullmatch(value):
        raise WsError(
            "invalid_channel",
            "Channel names are 1-128 characters from A-Z a-z 0-9 _ . : @ -",
            status=400,
        )
    return value


def origin_is_allowed(origin: str | None) -> bool:
    """Exact ``scheme://host[:port]`` match against ``ALLOWED_ORIGINS`` (never a substring).

    No ``Origin`` header means a non-browser client, which cannot be hijacked cross-site.
    """
    if origin is None:
        return True
    allowed = ws_setting("ALLOWED_ORIGINS")
    if not allowed:
        return True  # cookie auth is still refused for browsers: see authenticate_connect
    return "*" in allowed or origin.rstrip("/").lower() in {o.lower() for o in allowed}


def authenticate_connect(request: Any) -> Any:
    """The user a connect acts as: a one-time ``?token=``, else the forwarded session cookie.

    A spent token is left on ``request.ws_spent_token`` so that a connect refused afterwards
    can restore it. Raises ``WsError`` 401 for a bad token and 403 for a cookie login from a
    browser origin that ``ALLOWED_ORIGINS`` does not list (cross-site WebSocket hijacking).
    """
    from .models import ConnectToken

    raw_token = request.GET.get(ws_setting("TOKEN_QUERY_PARAM"))
    if raw_token is not None:
        consumed = ConnectToken.spend(raw_token)
        if consumed is None:
            raise WsError(
                "invalid_token", "The connect token is invalid, expired or used", status=401
            )
        user, request.ws_spent_token = consumed
        return user
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return AnonymousUser()
    origin = request.headers.get("Origin")
    if origin is not None and not ws_setting("ALLOWED_ORIGINS"):
        raise WsError(
            "origin_not_allowed",
            "A browser must connect with a one-time token unless its origin is in "
            "WS_ROUTES['ALLOWED_ORIGINS']",
            status=403,
        )
    return user


def connect_rate_limited(source_ip: str | None) -> bool:
    """Count a connect attempt from ``source_ip``; ``True`` once over ``CONNECT_RATE_LIMIT``.

    Counted per :func:`rate_limit_bucket` in the Django cache (atomic ``add``/``incr``), not in
    database rows.
    """
    limit = ws_setting("CONNECT_RATE_LIMIT")
    if not limit:
        return False
    attempts, window = limit
    cache = caches[ws_setting("CACHE_ALIAS")]
    key = f"ws_routes:connect:{rate_limit_bucket(source_ip)}"
    try:
        if cache.add(key, 1, timeout=window):
            return attempts < 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            return attempts < 1
    except Exception as error:  # the cache (Redis) unreachable: let connects in, and say so
        _cache_unavailable("connect rate limit not counted", error)
        return False
    return count > attempts


_cache_warned_at = 0.0


def _cache_unavailable(what: str, error: BaseException) -> None:
    """Log (at most once a minute) that the Django cache failed, and what was done instead.

    Why fail open: the limiter and the permission cache protect and speed up; refusing every
    connect or message while Redis restarts would turn a cache blip into an outage
    (docs/reliability.md).
    """
    global _cache_warned_at
    now = time.monotonic()
    if now - _cache_warned_at >= 60:
        _cache_warned_at = now
        logger.warning("Django cache unavailable (%s): %s", what, error)


def login_binding(user: Any) -> str:
    """What ties a socket to the login that opened it: the user's session auth hash.

    Django's own sessions store the same value (``HASH_SESSION_KEY``) and log the user out when
    it changes: a password change, or anything a custom user model folds into the hash. An
    anonymous socket is bound to nothing (``""``).
    """
    if user is None or not user.is_authenticated:
        return ""
    get_hash = getattr(user, "get_session_auth_hash", None)
    return get_hash() if get_hash is not None else ""


def bound_user(session: Any) -> Any | None:
    """The session's user if still active and still the login that opened the socket, else None.

    Compares the binding stored at CONNECT with the one computed from the user row the message's
    one query loaded (constant time; no other query). A mismatch makes the socket anonymous, as
    Django makes a request anonymous when its session's hash no longer matches.
    """
    user = session.user
    if user is None or not user.is_active:
        return None
    stored = (session.login_binding or "").encode()
    if not stored or not hmac.compare_digest(stored, login_binding(user).encode()):
        return None
    return user


def user_has_route_permission(user: Any, permission: str) -> bool:
    """``user.has_perm(permission)``, with the user's permission set cached in the Django cache.

    Without the cache every message on a ``permission=`` route would cost the auth backends'
    queries (two for ModelBackend). The set is keyed by user and kept
    ``PERMISSION_CACHE_SECONDS``; 0 asks the backends every time.
    """
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    seconds = ws_setting("PERMISSION_CACHE_SECONDS")
    if not seconds:
        return bool(user.has_perm(permission))
    cache = caches[ws_setting("CACHE_ALIAS")]
    key = f"ws_routes:perms:{user.pk}"
    try:
        permissions = cache.get(key)
    except Exception as error:  # the cache unreachable: ask the backends (the answer is right)
        _cache_unavailable("permissions asked of the auth backends", error)
        return bool(user.has_perm(permission))
    if permissions is None:
        permissions = frozenset(user.get_all_permissions())
        try:
            cache.set(key, permissions, timeout=seconds)
        except Exception as error:
            _cache_unavailable("permissions not cached", error)
    return permission in permissions
