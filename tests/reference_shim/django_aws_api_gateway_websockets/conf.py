from typing import Any

from ws_routes.conf import ws_setting

from .shim import missing_names

_RATE = {"rate_limit_max_attempts": 0, "rate_limit_window_minutes": 1}


def get_setting(name: str) -> Any:
    """The reference's numeric settings, read through ws_routes' settings and fallbacks."""
    if name == "token_expiry_seconds":
        return ws_setting("TOKEN_TTL_SECONDS")
    if name == "token_rate_limit_per_minute":
        return ws_setting("TOKEN_RATE_LIMIT_PER_MINUTE")
    if name in _RATE:
        limit = ws_setting("CONNECT_RATE_LIMIT")
        value = limit[_RATE[name]]
        return value if name == "rate_limit_max_attempts" else value // 60
    raise KeyError(name)


__getattr__ = missing_names(__name__)
