"""Whether two channel patterns can match the same name, decided exactly (issue 26 item 1).

A pattern (``channel_rules.compile_pattern``) is literal characters and placeholders; a
placeholder matches 1 to 128 characters of ``PLACEHOLDER_CHARS`` (never ':'). A channel name is
at most ``MAX_NAME_LENGTH`` characters (``CHANNEL_PATTERN`` and the 128-character ``channel``
columns), so a placeholder's upper bound never binds: no placeholder can take more characters
than the whole name has. Each pattern is then a small automaton: item ``i`` is a literal
character or a run of adjacent placeholders (``{a}{b}``: at least 2 characters), and a state is
``(item, characters the run took so far, counted up to its minimum)``. Both patterns read the
same name one character at a time, so a breadth-first search over pairs of states finds the
shortest name both match: the patterns overlap exactly when that name has at most
``MAX_NAME_LENGTH`` characters. Pure: no Django, no I/O.
"""

from __future__ import annotations

import re
import string
from collections import deque

#: What one placeholder matches (``channel_rules.PLACEHOLDER_VALUE`` is built from these).
PLACEHOLDER_CHARS = frozenset(string.ascii_letters + string.digits + "_.@-")
#: The longest channel name (``CHANNEL_PATTERN``'s ``{1,128}``, ``max_length=128`` columns).
MAX_NAME_LENGTH = 128
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
#: The character a witness puts where both patterns have a placeholder.
_FILLER = "x"

#: An item: a literal character (``str``) or a run of placeholders (how many: its minimum).
Item = str | int


def pattern_items(pattern: str) -> tuple[Item, ...]:
    """``"a{x}{y}:b"`` -> ``("a", 2, ":", "b")`` (a pattern that compiled already)."""
    items: list[Item] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(pattern):
        items.extend(pattern[position : placeholder.start()])
        previous = items[-1] if items else None
        if isinstance(previous, int) and position == placeholder.start():
            items[-1] = previous + 1
        else:
            items.append(1)
        position = placeholder.end()
    items.extend(pattern[position:])
    return tuple(items)


State = tuple[int, int]


def _closure(items: tuple[Item, ...], state: State) -> list[State]:
    """``state`` and where it may go without reading (leaving a run that took enough)."""
    found = [state]
    index, taken = state
    while index < len(items):
        item = items[index]
        if isinstance(item, str) or taken < item:
            break
        index, taken = index + 1, 0
        found.append((index, taken))
    return found


def _reads(items: tuple[Item, ...], state: State) -> str | None | bool:
    """What ``state`` reads next: a literal character, ``True`` (any placeholder character),
    or ``None`` (nothing: the end)."""
    index, _ = state
    if index == len(items):
        return None
    item = items[index]
    return item if isinstance(item, str) else True


def _advance(items: tuple[Item, ...], state: State) -> State:
    index, taken = state
    item = items[index]
    return (index + 1, 0) if isinstance(item, str) else (index, min(taken + 1, item))


def _joint_character(first: str | bool, second: str | bool) -> str | None:
    if isinstance(first, bool) and isinstance(second, bool):
        return _FILLER
    if isinstance(first, bool) or isinstance(second, bool):
        literal = second if isinstance(first, bool) else first
        assert isinstance(literal, str)
        return literal if literal in PLACEHOLDER_CHARS else None
    return first if first == second else None


def common_name(first: str, second: str) -> str | None:
    """The shortest channel name both patterns match, or ``None`` if they share none."""
    left, right = pattern_items(first), pattern_items(second)
    start = ((0, 0), (0, 0))
    parents: dict[tuple[State, State], tuple[tuple[State, State], str] | None] = {start: None}
    depth = {start: 0}
    queue = deque([start])
    while queue:
        pair = queue.popleft()
        if depth[pair] > MAX_NAME_LENGTH:
            return None  # breadth first: every later name is at least as long
        for a in _closure(left, pair[0]):
            for b in _closure(right, pair[1]):
                if a == (len(left), 0) and b == (len(right), 0):
                    return _spell(parents, pair)
                read_a, read_b = _reads(left, a), _reads(right, b)
                if read_a is None or read_b is None:
                    continue
                character = _joint_character(read_a, read_b)
                if character is None:
                    continue
                following = (_advance(left, a), _advance(right, b))
                if following not in parents:
                    parents[following] = (pair, character)
                    depth[following] = depth[pair] + 1
                    queue.append(following)
    return None


def _spell(
    parents: dict[tuple[State, State], tuple[tuple[State, State], str] | None],
    pair: tuple[State, State],
) -> str:
    characters: list[str] = []
    step = parents[pair]
    while step is not None:
        pair, character = step
        characters.append(character)
        step = parents[pair]
    return "".join(reversed(characters))
