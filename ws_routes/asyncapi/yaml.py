"""JSON-ready data as block-style YAML, without a YAML library.

Why not PyYAML: the document holds only JSON types, for which YAML's block style is simple, and
an optional dependency would make ``--format yaml`` fail on some installs. Every string is
written double-quoted with escapes YAML 1.1 and 1.2 read alike (``\\uXXXX``, ``\\UXXXXXXXX``),
keys too unless they are plain words, so no value can turn into a boolean, a number, a comment
or a line break by accident; the tests round-trip it through PyYAML and the AsyncAPI parser.
Example: ``to_yaml({"a": [1, "b"]})``.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Keys written plain (``action:``): letters, digits and ``$_.-/``, never a YAML 1.1 keyword.
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$./-]*")
_KEYWORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}

_SIMPLE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quoted(text: str) -> str:
    """``text`` as a double-quoted YAML scalar: printable ASCII as is, everything else escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _key(key: str) -> str:
    plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _KEYWORDS
    return key if plain else quoted(key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not JSON")
        # YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent: 1.0e+300.
        mantissa, e, exponent = repr(value).partition("e")
        if "." not in mantissa and mantissa.lstrip("-").isdigit():
            mantissa += ".0"
        return mantissa + (("e" + ("+" if exponent[0] not in "+-" else "") + exponent) if e else "")
    if isinstance(value, str):
        return quoted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready: {value!r:.60}")


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} is not a string")
            written = _key(key)
            if len(written) > 1000:  # YAML caps implicit keys at 1024 characters: "? key"
                lines.append(f"{pad}? {written}")
                written = ""
            lines.extend(_entry(pad + written + ":", item, indent))
        return lines
    if isinstance(value, (list, tuple)):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            lines.extend(_entry(pad + "-", item, indent))
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, item: Any, indent: int) -> list[str]:
    """``head`` (``"key":`` or ``-``) then ``item``: inline if scalar or empty, else nested."""
    if isinstance(item, (dict, list, tuple)) and item:
        return [head, *_lines(item, indent + 2)]
    return [f"{head} {_lines(item, 0)[0]}"]


def to_yaml(data: Any) -> str:
    """The YAML text of ``data`` (dicts, lists, strings, numbers, booleans, None)."""
    return "\n".join(_lines(data, 0)) + "\n"
