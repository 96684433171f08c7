"""The reference's ``ChannelPermission`` rules, as plain values for channel authorisation.

The reference stores who may join a channel in ``ChannelPermission`` rows (allow all, superusers
only, staff only, or any of several sets of Django permissions). Here a rule is a value in code
(``WebSocketView.channel_permissions``); ``manage.py import_reference_data`` prints the rows of
the reference's table in that form. :meth:`ChannelRule.may_join` adapts a rule to the channel
authoriser signature ``may_join(request, **placeholders) -> bool`` of ``Router.channel()``.

Example::

    class ChatView(WebSocketView):
        channel_permissions = {
            "staff-room": ChannelRule.staff_only(),
            "vip": ChannelRule.permissions(["chat.vip"], ["chat.moderate", "chat.view"]),
        }
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ALLOW_ALL = "allow_all"
SUPERUSER_ONLY = "superuser_only"
STAFF_ONLY = "staff_only"
PERMISSIONS = "permissions"
#: The reference's ``ChannelPermission.Access`` values.
ACCESS_LEVELS = frozenset({ALLOW_ALL, SUPERUSER_ONLY, STAFF_ONLY, PERMISSIONS})


@dataclass(frozen=True)
class ChannelRule:
    """Who may join one channel, with the reference's ``ChannelPermission.allows`` semantics.

    ``rules`` matter only for ``PERMISSIONS``: the user needs *all* permissions of *any* one rule;
    no rules (or an empty rule) admits superusers only. Anonymous and inactive users pass only
    ``ALLOW_ALL``; superusers pass every level.
    """

    access: str = ALLOW_ALL
    rules: tuple[frozenset[str], ...] = ()

    def __post_init__(self) -> None:
        if self.access not in ACCESS_LEVELS:
            raise ValueError(
                f"ChannelRule access {self.access!r} is not one of {sorted(ACCESS_LEVELS)}"
            )
        for rule in self.rules:
            if not isinstance(rule, frozenset) or not all(isinstance(p, str) for p in rule):
                raise TypeError("ChannelRule rules must be frozensets of 'app_label.codename'")

    @classmethod
    def allow_all(cls) -> ChannelRule:
        return cls(ALLOW_ALL)

    @classmethod
    def superuser_only(cls) -> ChannelRule:
        return cls(SUPERUSER_ONLY)

    @classmethod
    def staff_only(cls) -> ChannelRule:
        return cls(STAFF_ONLY)

    @classmethod
    def permissions(cls, *rules: Iterable[str]) -> ChannelRule:
        """``permissions(["a.x", "a.y"], ["a.z"])``: (x AND y) OR z."""
        if any(isinstance(rule, str) for rule in rules):
            raise TypeError("Pass each rule as a list of permissions: permissions(['app.perm'])")
        return cls(PERMISSIONS, tuple(frozenset(rule) for rule in rules))

    def allows(self, user: Any) -> bool:
        """Whether ``user`` (``None``, anonymous or a user) may join the channel."""
        if self.access == ALLOW_ALL:
            return True
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if user.is_superuser:
            return True
        if self.access == STAFF_ONLY:
            return bool(user.is_staff)
        if self.access == PERMISSIONS:
            return any(rule and user.has_perms(sorted(rule)) for rule in self.rules)
        return False  # SUPERUSER_ONLY

    def may_join(self) -> Callable[..., bool]:
        """This rule as a channel authoriser: ``router.channel("vip", rule.may_join())``."""

        def authorise(request: Any, **placeholders: Any) -> bool:
            return self.allows(getattr(request, "user", None))

        authorise.__qualname__ = f"ChannelRule({self.access}).may_join"
        return authorise
