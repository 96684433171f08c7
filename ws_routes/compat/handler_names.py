"""Which names of a ``WebSocketView`` subclass are hooks, and how its handlers are called."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

#: Every public name of the reference's ``WebSocketView`` (and of Django's ``View`` under it):
#: a subclass that defines one overrides a hook or a setting, never adds a route.
_REFERENCE_NAMES = (
    "ADDITIONAL_ALLOWED_HANDLERS ALLOWED_HANDLERS ALLOW_UNLISTED_CHANNELS BASE_HANDLERS "
    "CHANNEL_NAME_PATTERN CHECK_CONNECT_USERAGENT CHECK_PERMISSIONS_ON_CONNECT "
    "EXCEPTION_MAIL_INTERVAL MAX_BODY_SIZE MAX_CHANNEL_NAME_LENGTH RATE_LIMIT_ENABLED "
    "RATE_LIMIT_MAX_ATTEMPTS RATE_LIMIT_WINDOW_MINUTES SEND_EXCEPTION_MAIL USE_WS_TOKEN "
    "additional_required_headers all_permissions_required api_gateway as_view "
    "aws_api_gateway_id body can_join_channel change_channel connect debug debug_log default "
    "disconnect dispatch expected_useragent_prefix get_channel_permission "
    "handler_selection_key handler_selection_key_missing has_all_permission has_any_permission "
    "http_method_names http_method_not_allowed invalid_gateway_secret invalid_useragent "
    "missing_headers model options permission_denied permissions_required "
    "required_connection_headers required_headers route_selection_key "
    "route_selection_key_missing session_not_found setup view_is_async websocket_session"
)
REFERENCE_BASE_NAMES = frozenset(_REFERENCE_NAMES.split())


@functools.lru_cache(maxsize=1024)
def takes_url_arguments(function: Callable[..., Any]) -> bool:
    """Whether a handler accepts the URL's ``*args, **kwargs`` as the reference passes them."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)
