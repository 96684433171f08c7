"""The reference package's settings, read as fallbacks of ``WS_ROUTES``.

A project moving over keeps working with its old ``WEBSOCKETS`` dict and ``AWS_GATEWAY_REGION_NAME``
until it renames them; each one used warns once (``DeprecationWarning``) with the ``WS_ROUTES``
key to write instead. A ``WS_ROUTES`` key always wins over its fallback. Settings that have no
counterpart here are reported by the ``ws_routes.W1xx`` system checks (:mod:`.checks`), never
silently ignored. The result is cached and recomputed when a setting changes
(``override_settings``), so a message pays a dict lookup, not a ``getattr`` per name.

Example: with ``WEBSOCKETS = {"token_expiry_seconds": 120}``, ``ws_setting("TOKEN_TTL_SECONDS")``
is 120 and warns "WEBSOCKETS['token_expiry_seconds'] is deprecated: use
WS_ROUTES['TOKEN_TTL_SECONDS']".
"""

from __future__ import annotations

import warnings
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

#: Settings of the reference whose value this module reads.
WATCHED_SETTINGS = frozenset(
    {"WEBSOCKETS", "AWS_GATEWAY_REGION_NAME", "AWS_REGION_NAME", "WS_ROUTES"}
)
#: The reference's defaults for its two connect rate limit keys (its conf.DEFAULTS).
REFERENCE_RATE_LIMIT = {"rate_limit_max_attempts": 20, "rate_limit_window_minutes": 1}

_cache: list[dict[str, Any]] = []


def _positive_int(value: Any) -> bool:
    # The reference ignores anything that is not a positive integer (its conf.get_setting).
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def reference_dict() -> dict[str, Any]:
    """``settings.WEBSOCKETS`` if it is a dict (as the reference reads it), else ``{}``."""
    configured = getattr(settings, "WEBSOCKETS", None)
    return configured if isinstance(configured, dict) else {}


def _secrets(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def compute_fallbacks(configured: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """``{WS_ROUTES key: (value, old name)}`` for each reference setting that applies.

    Keys already in ``configured`` (the project's ``WS_ROUTES``) are left out.
    """
    old = reference_dict()
    found: dict[str, tuple[Any, str]] = {}
    secrets = _secrets(old.get("gateway_secret"))
    if secrets is not None:
        found["GATEWAY_SECRETS"] = (secrets, "WEBSOCKETS['gateway_secret']")
    if _positive_int(old.get("token_expiry_seconds")):
        found["TOKEN_TTL_SECONDS"] = (
            old["token_expiry_seconds"],
            "WEBSOCKETS['token_expiry_seconds']",
        )
    if _positive_int(old.get("token_rate_limit_per_minute")):
        found["TOKEN_RATE_LIMIT_PER_MINUTE"] = (
            old["token_rate_limit_per_minute"],
            "WEBSOCKETS['token_rate_limit_per_minute']",
        )
    named = [key for key in REFERENCE_RATE_LIMIT if _positive_int(old.get(key))]
    if named:
        limit = {**REFERENCE_RATE_LIMIT, **{key: old[key] for key in named}}
        found["CONNECT_RATE_LIMIT"] = (
            (limit["rate_limit_max_attempts"], limit["rate_limit_window_minutes"] * 60),
            " and ".join(f"WEBSOCKETS[{key!r}]" for key in named),
        )
    for name in ("AWS_GATEWAY_REGION_NAME", "AWS_REGION_NAME"):
        region = getattr(settings, name, None)
        if isinstance(region, str) and region:
            found["REGION"] = (region, name)
            break
    return {key: value for key, value in found.items() if key not in configured}


def fallbacks(configured: dict[str, Any]) -> dict[str, Any]:
    """The ``WS_ROUTES`` values the reference's settings supply (cached; warns once per fill)."""
    if _cache:
        return _cache[0]
    found = compute_fallbacks(configured)
    for key, (_value, old_name) in sorted(found.items()):
        warnings.warn(
            f"{old_name} is deprecated: use WS_ROUTES[{key!r}] (see docs/migrating.md).",
            DeprecationWarning,
            stacklevel=4,
        )
    values = {key: value for key, (value, _old) in found.items()}
    _cache.append(values)
    return values


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in WATCHED_SETTINGS:
        _cache.clear()


setting_changed.connect(_forget, dispatch_uid="ws_routes.compat.reference_settings")
