"""Channel rules: which channel names exist, who may join them, and what they keep.

A rule is registered with ``@router.channel("room:{name}")``; a channel name that matches no
rule is refused (``ALLOW_UNREGISTERED_CHANNELS`` lifts that). ``user:{user_id}`` is built in:
only that user may join it. This module is the registry layer: it imports nothing but errors.
"""

from __future__ import annotations

import inspect
import itertools
import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .channel_overlap import common_name
from .errors import RouteConfigurationError

#: What a placeholder matches: no ':' (a separator), so ``room:{name}`` never matches
#: ``room:a:b``. Names are ASCII only (``CHANNEL_PATTERN``), case-sensitive and matched whole.
PLACEHOLDER_VALUE = r"[A-Za-z0-9_.@-]{1,128}"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LITERAL = re.compile(r"[A-Za-z0-9_.:@-]*")
#: At most this many messages a history channel keeps (a larger count is a configuration error).
MAX_HISTORY_COUNT = 100_000

MayJoin = Callable[..., Any]


def _anyone(request: Any, **placeholders: str) -> bool:
    return True


@dataclass(frozen=True)
class ChannelRule:
    """One registered channel pattern.

    ``may_join(request, **placeholders) -> bool`` decides who joins; ``presence`` pushes joins
    and leaves; ``history_count`` / ``history_age`` keep sent messages for resume.
    """

    pattern: str
    matcher: re.Pattern[str] = field(repr=False, compare=False)
    may_join: MayJoin = field(default=_anyone, compare=False)
    presence: bool = False
    history_count: int | None = None
    history_age: timedelta | None = None
    placeholders: tuple[str, ...] = ()
    #: Overlapping patterns this rule is tried before / after (``before=`` / ``after=``).
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    @property
    def history(self) -> bool:
        """Whether messages sent to matching channels are numbered and kept."""
        return self.history_count is not None or self.history_age is not None

    #: One matcher per ``:``-separated part, when a part has two placeholders (see ``match``).
    segments: tuple[re.Pattern[str], ...] | None = field(default=None, repr=False, compare=False)

    def match(self, name: str) -> dict[str, str] | None:
        """The placeholder values if ``name`` matches this rule, else ``None``.

        A placeholder never matches ``:``, so the name's ``:``-separated parts line up with the
        pattern's: with two placeholders in a part (``{home}-{away}``) each part is matched on
        its own, the same values as one regex but without retrying every earlier part's splits
        when a later part fails (time that grows exponentially with the number of parts).
        """
        if self.segments is None:
            found = self.matcher.fullmatch(name)
            return None if found is None else found.groupdict()
        parts = name.split(":")
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for matcher, part in zip(self.segments, parts, strict=True):
            found = matcher.fullmatch(part)
            if found is None:
                return None
            values.update(found.groupdict())
        return values


#: Placeholders allowed between two ``:``: with more, one part's possible splits (and so the
#: time to refuse a name a client sends) grow as the name's length to that power.
MAX_PLACEHOLDERS_PER_PART = 2


def compile_pattern(pattern: Any) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``"room:{name}"`` -> a regex with a named group per placeholder, and their names."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > 128:
        raise RouteConfigurationError(
            f"Channel pattern {pattern!r}: use a string of 1 to 128 characters such as "
            "'room:{name}'."
        )
    crowded = [
        part
        for part in pattern.split(":")
        if len(_PLACEHOLDER.findall(part)) > MAX_PLACEHOLDERS_PER_PART
    ]
    if crowded:
        raise RouteConfigurationError(
            f"Channel pattern {pattern!r}: {crowded[0]!r} has more than "
            f"{MAX_PLACEHOLDERS_PER_PART} placeholders between two ':'. Matching a name against "
            "it takes time exponential in the name's length (a client chooses the name): "
            "separate the placeholders with ':' (e.g. 'game:{a}:{b}:{c}')."
        )
    return pattern_regex(pattern)


def pattern_regex(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The regex of ``pattern`` and its placeholder names, checked as :func:`compile_pattern`
    checks them except for length and crowding (the overlap tests build any pattern)."""
    parts: list[str] = []
    names: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(pattern):
        parts.append(_literal(pattern, pattern[position : placeholder.start()]))
        name = placeholder.group(1)
        if name in names or name == "request":
            raise RouteConfigurationError(
                f"Channel pattern {pattern!r}: placeholder {{{name}}} is repeated or reserved."
            )
        names.append(name)
        parts.append(f"(?P<{name}>{PLACEHOLDER_VALUE})")
        position = placeholder.end()
    parts.append(_literal(pattern, pattern[position:]))
    return re.compile("".join(parts)), tuple(names)


def _literal(pattern: str, text: str) -> str:
    if not _LITERAL.fullmatch(text):
        raise RouteConfigurationError(
            f"Channel pattern {pattern!r}: outside placeholders use only A-Z a-z 0-9 _ . : @ - "
            "(the characters a channel name may have)."
        )
    return re.escape(text)


def _history(value: Any, age: Any, pattern: str) -> tuple[int | None, timedelta | None]:
    count: int | None = None
    if isinstance(value, timedelta):
        value, age = None, value if age is None else age
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RouteConfigurationError(
                f"Channel {pattern!r}: history must be a message count (int) or a timedelta."
            )
        if not 1 <= value <= MAX_HISTORY_COUNT:
            raise RouteConfigurationError(
                f"Channel {pattern!r}: history must keep 1 to {MAX_HISTORY_COUNT} messages."
            )
        count = value
    if age is not None:
        if isinstance(age, (int, float)) and not isinstance(age, bool):
            age = timedelta(seconds=age)
        if not isinstance(age, timedelta) or age <= timedelta(0):
            raise RouteConfigurationError(
                f"Channel {pattern!r}: history_age must be a positive timedelta or seconds."
            )
    return count, age


def make_rule(
    pattern: str,
    may_join: MayJoin | None = None,
    *,
    presence: bool = False,
    history: int | timedelta | None = None,
    history_age: timedelta | float | None = None,
    before: str | Iterable[str] = (),
    after: str | Iterable[str] = (),
) -> ChannelRule:
    """Build and check a rule; every mistake is a ``RouteConfigurationError`` naming it."""
    matcher, names = compile_pattern(pattern)
    if may_join is None:
        may_join = _anyone
    elif not callable(may_join):
        raise RouteConfigurationError(f"Channel {pattern!r}: {may_join!r} is not callable.")
    else:
        _check_authoriser(pattern, may_join, names)
    count, age = _history(history, history_age, pattern)
    parts = pattern.split(":")
    segments = None
    if any(len(_PLACEHOLDER.findall(part)) > 1 for part in parts):
        segments = tuple(pattern_regex(part)[0] for part in parts)
    return ChannelRule(
        pattern=pattern,
        matcher=matcher,
        segments=segments,
        may_join=may_join,
        presence=bool(presence),
        history_count=count,
        history_age=age,
        placeholders=names,
        before=_order(pattern, "before", before),
        after=_order(pattern, "after", after),
    )


def _order(pattern: str, what: str, value: Any) -> tuple[str, ...]:
    """``before=`` / ``after=``: one pattern or several, each an already-valid pattern."""
    patterns = (value,) if isinstance(value, str) else value
    try:
        found = tuple(patterns)
    except TypeError:
        found = (None,)
    if len(found) > 64 or not all(isinstance(item, str) and item for item in found):
        raise RouteConfigurationError(
            f"Channel {pattern!r}: {what}= takes a channel pattern or a list of them "
            f"(got {value!r})."
        )
    if pattern in found:
        raise RouteConfigurationError(f"Channel {pattern!r}: {what}= names the rule itself.")
    return found


def _check_authoriser(pattern: str, may_join: MayJoin, names: tuple[str, ...]) -> None:
    try:
        signature = inspect.signature(may_join)
    except (TypeError, ValueError):
        return
    try:
        signature.bind("request", **{name: "value" for name in names})
    except TypeError as error:
        wanted = ", ".join(("request", *names))
        raise RouteConfigurationError(
            f"Channel {pattern!r}: authoriser {getattr(may_join, '__qualname__', may_join)}"
            f"{signature} cannot be called as may_join({wanted}) ({error})."
        ) from None


def _own_user_channel(request: Any, user_id: str) -> bool:
    """``user:{user_id}``: only that (active, logged-in) user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return str(user.pk) == user_id


#: Built into every router and consulted before any project rule, so a rule such as
#: ``{kind}:{slug}`` never decides who joins ``user:1``; patterns starting ``user:`` are refused.
USER_CHANNEL_RULE = make_rule("user:{user_id}", _own_user_channel)
USER_CHANNEL_PREFIX = "user:"


def user_channel(user: Any) -> str:
    """The name of ``user``'s own channel: ``user:<pk>``."""
    return f"user:{user.pk}"


class ChannelRegistry:
    """The built-in ``user:{user_id}``, then one router's rules in registration order."""

    def __init__(self) -> None:
        self._rules: list[ChannelRule] = []
        _REGISTRIES[next(_ORDER)] = self

    def add(self, rule: ChannelRule) -> None:
        if rule.pattern.startswith(USER_CHANNEL_PREFIX):
            raise RouteConfigurationError(
                f"Channel pattern {rule.pattern!r}: '{USER_CHANNEL_PREFIX}' channels are built in "
                "(user:{user_id}, only that user may join); choose another prefix."
            )
        for existing in self._rules:
            if existing.pattern == rule.pattern:
                raise RouteConfigurationError(
                    f"Duplicate channel pattern {rule.pattern!r}: already registered."
                )
        self._rules.insert(self._position(rule), rule)

    def _position(self, rule: ChannelRule) -> int:
        """Where ``rule`` goes in the trial order; refuses an overlap whose order is unmarked.

        Two rules that can match one name (``team:ops`` and ``team:{slug}``) would let
        registration order decide silently who judges it, so an overlap needs ``before=`` or
        ``after=`` on either rule naming the other (it may name a rule registered later).
        """
        lowest, position = 0, len(self._rules)
        for index, existing in enumerate(self._rules):
            first = existing.pattern in rule.before or rule.pattern in existing.after
            second = existing.pattern in rule.after or rule.pattern in existing.before
            name = common_name(rule.pattern, existing.pattern)
            if name is None and (first or second):
                raise RouteConfigurationError(
                    f"Channels {rule.pattern!r} and {existing.pattern!r}: before=/after= orders "
                    "them, but no channel name matches both: drop it (the order of disjoint "
                    "rules does not matter)."
                )
            if name is not None and not (first or second):
                raise RouteConfigurationError(
                    f"Channel pattern {rule.pattern!r} overlaps {existing.pattern!r} (both match "
                    f"{name!r}), so registration order would silently decide who may join such "
                    "a name. Make the patterns disjoint (another prefix), or mark the order: "
                    f"@router.channel({rule.pattern!r}, before={existing.pattern!r}) to try it "
                    f"first, or after={existing.pattern!r} to try it second (docs/channels.md)."
                )
            if first and second:
                raise RouteConfigurationError(
                    f"Channels {rule.pattern!r} and {existing.pattern!r}: before=/after= asks "
                    "for each to be tried first."
                )
            if first:
                position = min(position, index)
            if second:
                lowest = index + 1
        if lowest > position:
            after, before = ", ".join(map(repr, rule.after)), ", ".join(map(repr, rule.before))
            raise RouteConfigurationError(
                f"Channel {rule.pattern!r}: cannot be tried after {after} and before {before}: "
                "that order contradicts the registered rules' own."
            )
        return position

    @property
    def rules(self) -> tuple[ChannelRule, ...]:
        return tuple(self._rules)

    def match(self, name: Any) -> tuple[ChannelRule, Mapping[str, str]] | None:
        """The first rule matching ``name`` and its placeholder values, else ``None``."""
        if not isinstance(name, str):
            return None
        for rule in (USER_CHANNEL_RULE, *self._rules):
            values = rule.match(name)
            if values is not None:
                return rule, values
        return None


#: Every router's registry in creation order (the default router's first: it is made when
#: ``routing`` is imported), so a send to a channel finds its rule without knowing the router.
_REGISTRIES: weakref.WeakValueDictionary[int, ChannelRegistry] = weakref.WeakValueDictionary()
_ORDER = itertools.count()


def is_catch_all(rule: ChannelRule) -> bool:
    """A pattern that is one placeholder (``"{channel}"``: the reference-compatible view's)."""
    return len(rule.placeholders) == 1 and rule.pattern == "{" + rule.placeholders[0] + "}"


def match_channel_globally(
    name: Any, own_rules: tuple[ChannelRule, ...] | None = ()
) -> tuple[ChannelRule, Mapping[str, str]] | None:
    """The one rule that judges ``name``, whichever router or view a socket came through.

    Delivery is global (a push to a channel reaches every subscriber), so authorisation is
    too: the built-in ``user:{user_id}``, then the first specific rule across all routers in
    creation order, then the catch-all patterns (``"{channel}"``) of ``own_rules`` (the
    socket's router: a catch-all speaks for its own view only, never admits a name another
    rule guards, and never makes a name "registered" for other routers). ``own_rules=None``:
    every router's catch-alls (what a send, which has no socket, looks up).
    """
    if not isinstance(name, str):
        return None
    registries = [registry for _, registry in sorted(_REGISTRIES.items())]
    rules = [rule for registry in registries for rule in registry.rules]
    catch_alls = rules if own_rules is None else own_rules
    ordered = [
        USER_CHANNEL_RULE,  # first: no project rule ({kind}:{slug}) may judge a user's channel
        *(rule for rule in rules if not is_catch_all(rule)),
        *(rule for rule in catch_alls if is_catch_all(rule)),
    ]
    for rule in ordered:
        values = rule.match(name)
        if values is not None:
            return rule, values
    return None


def find_channel_rule(name: str) -> ChannelRule | None:
    """The rule for ``name`` (:func:`match_channel_globally`), else ``None``."""
    found = match_channel_globally(name, None)
    return None if found is None else found[0]
