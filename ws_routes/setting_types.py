"""Each ``WS_ROUTES`` value against its type in ``conf.TYPES``, and near-miss setting names.

``manage.py check`` reports a value of the wrong type (``ws_routes.E012``) before the first
connect trips on it (``CONNECT_RATE_LIMIT = 60`` was a ``TypeError`` on every connect), and a
top-level setting whose name is close to ``WS_ROUTES`` (``ws_routes.E013``: ``WS_ROUTE`` is read
by nothing, so every value in it was silently ignored).

Example: ``type_problems({"MAX_BODY_BYTES": "128k"})`` -> ``[("MAX_BODY_BYTES", "must be an
integer >= 1, not '128k' (str)")]``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from .conf import DEFAULTS, TYPES

SETTING_TYPE_ERROR_ID = "ws_routes.E012"
NEAR_MISS_SETTING_ID = "ws_routes.E013"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_regex(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


def _is_object(value: Any) -> bool:
    """An instance of a class of the project (a transport), not a builtin scalar or container."""
    builtin = (str, bytes, int, float, bool, list, tuple, dict, set, type(None))
    return not isinstance(value, builtin)


#: Each kind a ``TYPES`` entry may name: (test, how the message says it).
KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "None": (lambda v: v is None, "None"),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "name": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "regex": (_is_regex, "a regular expression (a non-empty string re.compile accepts)"),
    "dotted": (
        lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", v)),
        'a dotted path such as "myapp.ws.describe"',
    ),
    "callable": (callable, "a callable"),
    "object": (_is_object, "an instance"),
    "url": (
        lambda v: isinstance(v, str) and bool(re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", v)),
        'a URL such as "http://127.0.0.1:8001"',
    ),
    "path": (lambda v: isinstance(v, (str, os.PathLike)) and bool(os.fspath(v)), "a file path"),
    "int": (_is_int, "an integer"),
    "int>=0": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "int>=1": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "number>0": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "number>=0": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "list[str]": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, str) for e in v),
        "a list of strings",
    ),
    "pair[int>=1]": (
        lambda v: (
            isinstance(v, (list, tuple))
            and len(v) == 2
            and all(_is_int(n) for n in v)
            # the bound after the shape, so a string is never compared with a number
            and all(n >= 1 for n in v)
        ),
        "a pair (count, seconds) of integers >= 1",
    ),
}


def kinds_of(name: str) -> list[str]:
    """The alternatives ``TYPES[name]`` lists; ``KeyError`` for a kind ``KINDS`` lacks."""
    kinds = [part.strip() for part in TYPES[name].split("|")]
    for kind in kinds:
        if kind not in KINDS:
            raise KeyError(f"conf.TYPES[{name!r}] names an unknown kind {kind!r}")
    return kinds


def _describe(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


def type_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be ``WS_ROUTES[name]``, or None when its type is right."""
    kinds = kinds_of(name)
    if any(KINDS[kind][0](value) for kind in kinds):
        return None
    wanted = " or ".join(KINDS[kind][1] for kind in kinds)
    return f"must be {wanted}, not {_describe(value)}"


def type_problems(configured: dict[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(name, problem)`` for each known setting in ``configured`` whose value has the wrong
    type; names in ``skip`` have a check of their own."""
    skipped = set(skip)
    found = []
    for name, value in configured.items():
        if name in TYPES and name not in skipped:
            problem = type_problem(name, value)
            if problem is not None:
                found.append((name, problem))
    return found


def default_hint(name: str) -> str:
    """The hint an E012 error gives: the default, as a value to start from."""
    return f"The default is {DEFAULTS[name]!r}; see the comment on {name!r} in ws_routes/conf.py."


def near_miss_names(names: Iterable[str], wanted: str = "WS_ROUTES") -> list[str]:
    """Names close to ``wanted`` that are not it (``WS_ROUTE``, ``WSROUTES``, ``WS_ROUTES_``)."""
    squashed = wanted.replace("_", "")
    found = []
    for name in names:
        if name == wanted or not name.isupper():
            continue
        close = difflib.SequenceMatcher(None, name, wanted).ratio() >= 0.85
        if close or name.replace("_", "") == squashed or name.rstrip("S_") == "WS_ROUTE":
            found.append(name)
    return sorted(found)


def close_setting_names(name: str) -> list[str]:
    """Known ``WS_ROUTES`` keys an unknown key ``name`` may have meant."""
    return difflib.get_close_matches(str(name).upper(), list(DEFAULTS), n=2, cutoff=0.75)
