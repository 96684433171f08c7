"""Who may call the view and who may connect: gateway secret, origins, connect auth, rate limit.

Every check here that runs before the session lookup touches no database.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches

from .conf import ws_setting
from .errors import WsError

CONNECTION_ID_PATTERN = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")
API_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{0,64}")
STAGE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{0,128}")


def gateway_secret_is_valid(provided: str | None) -> bool:
    """Whether ``provided`` matches any configured secret, in constant time.

    Every configured secret is compared (no early exit), so timing says nothing about which one
    matched. With none configured only ``DEBUG`` lets calls through (system check E004 says so).
    """
    secrets = ws_setting("GATEWAY_SECRETS")
    if not secrets:
        return bool(settings.DEBUG)
    if not provided:
        return False
    candidate = provided.encode("utf-8", "surrogateescape")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(candidate, str(secret).encode("utf-8"))
    return matched


def clean_source_ip(value: str | None) -> str | None:
    """The client IP API Gateway saw, or ``None`` when the header is absent or not an IP."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


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

    Raises ``WsError`` 401 for a bad token and 403 for a cookie login from a browser origin
    that ``ALLOWED_ORIGINS`` does not list (cross-site WebSocket hijacking).
    """
    from .models import ConnectToken

    raw_token = request.GET.get(ws_setting("TOKEN_QUERY_PARAM"))
    if raw_token is not None:
        user = ConnectToken.consume(raw_token)
        if user is None:
            raise WsError(
                "invalid_token", "The connect token is invalid, expired or used", status=401
            )
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

    Uses the Django cache (atomic ``add``/``incr``), not database rows.
    """
    limit = ws_setting("CONNECT_RATE_LIMIT")
    if not limit or not source_ip:
        return False
    attempts, window = limit
    cache = caches[ws_setting("CACHE_ALIAS")]
    key = f"ws_routes:connect:{source_ip}"
    if cache.add(key, 1, timeout=window):
        return attempts < 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return attempts < 1
    return count > attempts


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
    permissions = cache.get(key)
    if permissions is None:
        permissions = frozenset(user.get_all_permissions())
        cache.set(key, permissions, timeout=seconds)
    return permission in permissions
