"""A channel pattern with many placeholders between two ':' would let a client stall a worker.

Matching five placeholders of one part against a 120-character name a client chose takes over
a second (the regex tries every split); with parts of two placeholders matched one by one, a
name of many parts cannot multiply the splits either. Names a client sends are matched on
connect and on every join.
"""

from __future__ import annotations

import string
import time

import pytest

from ws_routes import RouteConfigurationError, Router
from ws_routes.channel_rules import make_rule, pattern_regex


@pytest.mark.parametrize(
    "pattern", ["game:{a}-{b}-{c}", "{a}{b}{c}", "x:{a}.{b}.{c}.{d}.{e}:y", "{a}{b}{c}:{d}"]
)
def test_more_than_two_placeholders_between_separators_are_refused(pattern):
    router = Router(app_name="crowded")
    with pytest.raises(RouteConfigurationError, match="more than 2 placeholders between two ':'"):
        router.add_channel(pattern)
    assert router.channel_rules == ()


@pytest.mark.parametrize("pattern", ["match:{home}-{away}", "{a}{b}", "a:{x}.{y}:{z}"])
def test_two_placeholders_in_a_part_are_allowed(pattern):
    Router(app_name="two").add_channel(pattern)


def test_a_name_of_many_parts_is_refused_quickly():
    """Sixteen parts of two placeholders: one regex retries every earlier part's splits when a
    later part fails (3**15 here); part by part, the time is the sum of the parts'."""
    letters = string.ascii_letters
    pattern = ":".join(f"{{{letters[2 * i]}}}-{{{letters[2 * i + 1]}}}" for i in range(16))
    assert len(pattern) == 127
    rule = make_rule(pattern)
    hostile = ":".join(["a-a-a-a"] * 15 + ["a"])  # the last part cannot match
    started = time.perf_counter()
    assert rule.match(hostile) is None
    assert time.perf_counter() - started < 0.05


def test_values_are_those_of_the_whole_regex():
    rule = make_rule("match:{home}-{away}:{round}")
    for name in ("match:a-b:1", "match:a-b-c:2", "match:-a-b:3", "match:a-b", "match:ab:1", "x"):
        whole = pattern_regex(rule.pattern)[0].fullmatch(name)
        assert rule.match(name) == (whole.groupdict() if whole else None)
    assert rule.match("match:a-b-c:2") == {"home": "a-b", "away": "c", "round": "2"}
