"""Who may join a channel: the one rule for the name across all routers, and its authoriser.

Used on connect (``?channel=``), by the built-in ``channel.*`` routes, by the compatible
view's ``change_channel`` and by anything that lists a channel's members for a client. A name
no rule of any router matches is refused unless ``ALLOW_UNREGISTERED_CHANNELS`` is on.
"""

from __future__ import annotations

import inspect
from typing import Any

from asgiref.sync import async_to_sync

from ..channel_rules import ChannelRule, match_channel_globally
from ..conf import ws_setting
from ..errors import WsError
from ..routing import Router
from ..security import clean_channel


def checked_channel_name(name: Any) -> str:
    """``name`` if it is a well-formed channel name; ``WsError`` 400 ``invalid_channel``."""
    if not isinstance(name, str) or name == "":
        raise WsError("invalid_channel", "channel must be a non-empty string", {"channel": None})
    return clean_channel(name)


def authorise_join(router: Router | None, request: Any, name: Any) -> ChannelRule | None:
    """The rule that lets ``request`` join ``name``; ``WsError`` 403 when it may not.

    Returns ``None`` for an unregistered name when ``ALLOW_UNREGISTERED_CHANNELS`` is on.

    Example: ``rule = authorise_join(router, request, "room:kitchen")``.
    """
    name = checked_channel_name(name)
    # Judged by the one rule for the name across every router (delivery is global): a
    # router's own catch-all or ALLOW_UNREGISTERED_CHANNELS never admits a guarded name.
    own_rules = router.channel_rules if router is not None else ()
    found = match_channel_globally(name, own_rules)
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
    _judge(rule, values, request, name)
    return rule


def authorise_guarded(request: Any, name: str) -> None:
    """Apply the rule of any router that guards ``name`` (not a catch-all); ``WsError`` 403
    when it refuses. For code with its own decision for other names (``change_channel``)."""
    found = match_channel_globally(name, ())
    if found is not None:
        _judge(found[0], found[1], request, name)


def _judge(rule: ChannelRule, values: Any, request: Any, name: str) -> None:
    may_join = rule.may_join
    if inspect.iscoroutinefunction(may_join):
        allowed = async_to_sync(may_join)(request, **values)
    else:
        allowed = may_join(request, **values)
    if not allowed:
        raise WsError(
            "channel_forbidden", "You may not join this channel", {"channel": name}, status=403
        )
