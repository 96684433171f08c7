"""Who may join a channel: the router's rule for the name, and its authoriser.

Used on connect (``?channel=``), by the built-in ``channel.*`` routes and by anything that
lists a channel's members for a client. A name no rule matches is refused unless
``ALLOW_UNREGISTERED_CHANNELS`` is on.
"""

from __future__ import annotations

import inspect
from typing import Any

from asgiref.sync import async_to_sync

from ..channel_rules import ChannelRule
from ..conf import ws_setting
from ..errors import WsError
from ..routing import Router
from ..security import clean_channel


def checked_channel_name(name: Any) -> str:
    """``name`` if it is a well-formed channel name; ``WsError`` 400 ``invalid_channel``."""
    if not isinstance(name, str) or name == "":
        raise WsError("invalid_channel", "channel must be a non-empty string", {"channel": None})
    return clean_channel(name)


def authorise_join(router: Router, request: Any, name: Any) -> ChannelRule | None:
    """The rule that lets ``request`` join ``name``; ``WsError`` 403 when it may not.

    Returns ``None`` for an unregistered name when ``ALLOW_UNREGISTERED_CHANNELS`` is on.

    Example: ``rule = authorise_join(router, request, "room:kitchen")``.
    """
    name = checked_channel_name(name)
    found = router.match_channel(name)
    if found is None:
        if ws_setting("ALLOW_UNREGISTERED_CHANNELS"):
            return None
        raise WsError(
            "channel_not_registered",
            f"No channel rule matches {name!r}: register one with "
            "@router.channel('<prefix>:{placeholder}') (see docs/channels.md), or set "
            "WS_ROUTES['ALLOW_UNREGISTERED_CHANNELS'] = True",
            {"channel": name},
            status=403,
        )
    rule, values = found
    may_join = rule.may_join
    if inspect.iscoroutinefunction(may_join):
        allowed = async_to_sync(may_join)(request, **values)
    else:
        allowed = may_join(request, **values)
    if not allowed:
        raise WsError(
            "channel_forbidden", "You may not join this channel", {"channel": name}, status=403
        )
    return rule
