"""Issue 26 item 1: overlapping channel patterns are refused unless their order is marked.

``team:{name}`` beside ``team:{slug}``, ``team:ops`` after ``team:{slug}`` and ``{kind}:{slug}``
beside ``team:{slug}`` were accepted silently: registration order decided who may join
``team:ops``. The overlap verdict (ws_routes/channel_overlap.py) is checked against brute force.
"""

from __future__ import annotations

import itertools
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (loads the profile)
from ws_routes import RouteConfigurationError, Router
from ws_routes.channel_overlap import MAX_NAME_LENGTH, common_name, pattern_items
from ws_routes.channel_rules import MAX_PLACEHOLDERS_PER_PART, PLACEHOLDER_VALUE, pattern_regex


def _many(count: int, tail: str = "") -> str:
    """``count`` adjacent placeholders with distinct names, then ``tail``."""
    return "".join(f"{{{letter}}}" for letter in string.ascii_letters[:count]) + tail


OVERLAPPING = [
    ("team:{name}", "team:{slug}"),
    ("team:ops", "team:{slug}"),
    ("{kind}:{slug}", "team:{slug}"),
    ("{kind}:{slug}", "{a}:{b}"),
    ("x{a}", "{b}y"),  # "xy"
    ("room{n}", "roomy"),
    ("{a}{b}", "ab"),
    ("{a}.{b}", "{c}"),
    ("a:{x}:c", "{y}:b:{z}"),
    ("team:{team}:{topic}", "team:{a}:news"),
    ("{channel}", "lobby"),
    ("a" * 60 + "{x}", "{y}" + "b" * 60),  # a 120-character name
    (_many(8, "q"), _many(4, "q")),  # runs of placeholders (few: the regexes backtrack)
]
DISJOINT = [
    ("room:{n}", "lobby"),
    ("room{n}", "room:{n}"),  # a placeholder never takes ':'
    ("room:{n}", "room:{n}:{m}"),
    ("{a}x", "{b}y"),
    ("team:{slug}", "team:"),  # a placeholder takes at least one character
    ("{a}{b}", "a"),
    ("{kind}:{slug}", "lobby"),
    ("a:{x}", "b:{x}"),
    ("Team:{x}", "team:{x}"),  # case-sensitive
    (_many(40, "x"), _many(40, "y")),
    ("".join(f"{{a{i}}}b{{c{i}}}d{{e{i}}}f" for i in range(5)), _many(20, "q")),
    # Only names of 200 characters match both: longer than any channel name (128).
    ("a" * 100 + "{x}", "{y}" + "b" * 100),
]


@pytest.mark.parametrize(("first", "second"), OVERLAPPING)
def test_overlapping_pairs_have_a_common_name_both_regexes_match(first, second):
    for a, b in ((first, second), (second, first)):
        name = common_name(a, b)
        assert name is not None and len(name) <= MAX_NAME_LENGTH
        assert pattern_regex(a)[0].fullmatch(name) and pattern_regex(b)[0].fullmatch(name)


@pytest.mark.parametrize(("first", "second"), DISJOINT)
def test_disjoint_pairs_have_none(first, second):
    assert common_name(first, second) is None and common_name(second, first) is None


def test_names_longer_than_a_channel_name_do_not_count():
    first, second = "a" * 100 + "{x}", "{y}" + "b" * 100
    long_name = "a" * 100 + "b" * 100  # both regexes match it, but no channel is this long
    assert pattern_regex(first)[0].fullmatch(long_name)
    assert pattern_regex(second)[0].fullmatch(long_name)
    assert common_name(first, second) is None


def test_adjacent_placeholders_are_one_run():
    assert pattern_items("a{x}{y}:b{z}") == ("a", 2, ":", "b", 1)


# -- brute force: the verdict is the shortest name both compiled regexes match -----------------

_TOKENS = ["a", "b", ":", "ab", "{p}"]
#: Literal characters of the generated patterns and one character only a placeholder matches:
#: a name both match can always be spelt with these (a position both patterns give to a
#: placeholder may hold any placeholder character), so enumerating them is complete.
_ALPHABET = "ab:z"
_BRUTE_LENGTH = 6


def _pattern(tokens: list[str]) -> str:
    counter = itertools.count()
    return "".join(f"{{p{next(counter)}}}" if token == "{p}" else token for token in tokens)


patterns = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=4).map(_pattern)


def _shortest_by_brute_force(first: str, second: str) -> int | None:
    left, right = pattern_regex(first)[0], pattern_regex(second)[0]
    for length in range(1, _BRUTE_LENGTH + 1):
        for letters in itertools.product(_ALPHABET, repeat=length):
            name = "".join(letters)
            if left.fullmatch(name) and right.fullmatch(name):
                return length
    return None


@given(patterns, patterns)
def test_the_verdict_matches_brute_force_on_every_short_name(first, second):
    name = common_name(first, second)
    shortest = _shortest_by_brute_force(first, second)
    if shortest is not None:
        assert name is not None and len(name) == shortest
    else:
        assert name is None or len(name) > _BRUTE_LENGTH
    if name is not None:
        assert pattern_regex(first)[0].fullmatch(name)
        assert pattern_regex(second)[0].fullmatch(name)


_NAME_CHARS = st.sampled_from("abcxyz09_.@-:")
full_patterns = st.lists(
    st.one_of(st.text(_NAME_CHARS, min_size=1, max_size=3), st.just("{p}")),
    min_size=1,
    max_size=5,
).map(_pattern)


@given(full_patterns, st.data())
def test_any_name_two_regexes_match_is_found(first, data):
    """A name built to match ``first`` (its placeholders filled at random): whatever pattern
    also matches it, the verdict says they overlap."""
    filler = st.text(st.sampled_from("abcxyz09_.@-"), min_size=1, max_size=4)
    name = re.sub(r"\{[^}]*\}", lambda _: data.draw(filler), first)
    assert re.fullmatch(PLACEHOLDER_VALUE, "a")  # the placeholder alphabet the filler uses
    second = data.draw(full_patterns)
    both = pattern_regex(first)[0].fullmatch(name) and pattern_regex(second)[0].fullmatch(name)
    if both:
        assert common_name(first, second) is not None
    assert common_name(first, first) is not None


# -- the registry: refuse unless the order is marked --------------------------------------------


def _registrable(pattern: str) -> bool:
    """At most MAX_PLACEHOLDERS_PER_PART placeholders between two ':' (a crowded pattern is
    refused for that, before any overlap: tests/test_channel_rules_crowded.py)."""
    return all(part.count("{") <= MAX_PLACEHOLDERS_PER_PART for part in pattern.split(":"))


@pytest.mark.parametrize(
    ("first", "second"), [pair for pair in OVERLAPPING if all(map(_registrable, pair))]
)
def test_an_unmarked_overlap_is_refused_naming_both_rules(first, second):
    router = Router(app_name="overlap")
    router.add_channel(first)
    with pytest.raises(RouteConfigurationError) as raised:
        router.add_channel(second)
    message = str(raised.value)
    assert repr(first) in message and repr(second) in message and "before=" in message
    assert [rule.pattern for rule in router.channel_rules] == [first]  # nothing half-added


def test_the_issues_examples_are_refused_in_either_order():
    for first, second in (("team:{slug}", "team:ops"), ("team:ops", "team:{slug}")):
        router = Router(app_name="overlap")
        router.add_channel(first)
        with pytest.raises(RouteConfigurationError, match=r"both match 'team:ops'"):
            router.add_channel(second)


def test_before_tries_the_new_rule_first():
    router = Router(app_name="ordered")
    router.add_channel("team:{slug}")
    router.add_channel("lobby")

    @router.channel("team:ops", before="team:{slug}")
    def staff_only(request):
        return request.user.is_staff

    assert [rule.pattern for rule in router.channel_rules] == ["team:ops", "team:{slug}", "lobby"]
    assert router.match_channel("team:ops")[0].may_join is staff_only
    assert router.match_channel("team:dev")[0].pattern == "team:{slug}"


def test_after_tries_the_new_rule_second():
    router = Router(app_name="ordered")
    router.add_channel("team:ops")
    router.add_channel("team:{slug}", after="team:ops")
    router.add_channel("{kind}:{slug}", after=["team:ops", "team:{slug}"])
    assert [r.pattern for r in router.channel_rules] == ["team:ops", "team:{slug}", "{kind}:{slug}"]
    assert router.match_channel("team:ops")[0].pattern == "team:ops"
    assert router.match_channel("room:1")[0].pattern == "{kind}:{slug}"


def test_before_and_after_together_place_the_rule_between():
    router = Router(app_name="ordered")
    router.add_channel("{kind}:{slug}")
    router.add_channel("team:ops", before="{kind}:{slug}")
    router.add_channel("team:{slug}", after="team:ops", before="{kind}:{slug}")
    assert [r.pattern for r in router.channel_rules] == ["team:ops", "team:{slug}", "{kind}:{slug}"]


def test_a_marked_order_must_cover_every_overlap():
    router = Router(app_name="ordered")
    router.add_channel("team:{slug}")
    router.add_channel("{kind}:ops", after="team:{slug}")
    with pytest.raises(RouteConfigurationError, match=r"'team:ops' overlaps '\{kind\}:ops'"):
        router.add_channel("team:ops", before="team:{slug}")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"before": "team:{other}"}, r"'team:ops' overlaps 'team:\{slug\}'"),
        ({"before": "lobby"}, "no channel name matches both"),
        ({"after": "lobby", "before": "team:{slug}"}, "no channel name matches both"),
        ({"before": 5}, "takes a channel pattern"),
        ({"before": [None]}, "takes a channel pattern"),
        ({"before": [""]}, "takes a channel pattern"),
        ({"after": ["x"] * 65}, "takes a channel pattern"),
        ({"before": "team:ops"}, "names the rule itself"),
    ],
)
def test_bad_order_marks_are_refused(options, message):
    router = Router(app_name="ordered")
    router.add_channel("lobby")
    router.add_channel("team:{slug}")
    with pytest.raises(RouteConfigurationError, match=message):
        router.add_channel("team:ops", **options)
    assert [rule.pattern for rule in router.channel_rules] == ["lobby", "team:{slug}"]


def test_the_mark_may_name_a_rule_registered_later():
    router = Router(app_name="ordered")
    router.add_channel("team:ops", before="team:{slug}")
    router.add_channel("{kind}:ops", after="team:ops")
    router.add_channel("team:{slug}", before="{kind}:ops")
    assert [r.pattern for r in router.channel_rules] == ["team:ops", "team:{slug}", "{kind}:ops"]
    refused = Router(app_name="ordered")
    refused.add_channel("team:ops", before="team:{slug}")
    with pytest.raises(RouteConfigurationError, match="each to be tried first"):
        refused.add_channel("team:{slug}", before="team:ops")


def test_a_contradictory_order_is_refused():
    router = Router(app_name="ordered")
    router.add_channel("{kind}:{slug}")
    router.add_channel("team:{slug}", before="{kind}:{slug}")
    with pytest.raises(RouteConfigurationError, match="cannot be tried after"):
        router.add_channel("team:ops", after="{kind}:{slug}", before="team:{slug}")


def test_include_keeps_the_order_and_refuses_an_overlap_with_the_host():
    inner = Router(app_name="inner")
    inner.add_channel("team:{slug}")
    inner.add_channel("team:ops", before="team:{slug}")
    outer = Router(app_name="outer")
    outer.include(inner)
    assert [rule.pattern for rule in outer.channel_rules] == ["team:ops", "team:{slug}"]
    host = Router(app_name="host")
    host.add_channel("{kind}:{slug}")
    with pytest.raises(RouteConfigurationError, match="overlaps"):
        host.include(inner)
