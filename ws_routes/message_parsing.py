"""What a client sent, strictly: UTF-8 JSON object, bounded depth, finite numbers, an envelope.

The reply envelope (``action``, ``id``) is taken from the message before anything can fail, so
every error reply (schema, permission, handler crash) still carries it.

Example::

    message = ParsedMessage(router.route_selection_key)
    body = message.parse(request)        # raises WsError invalid_json / invalid_message / too_large
    message.envelope                     # {"action": "chat.send", "id": 7}
"""

from __future__ import annotations

import json
import json.decoder
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from django.http import HttpRequest

from .conf import merged_settings
from .errors import WsError
from .validation import json_path

_UTF8_BOM = b"\xef\xbb\xbf"
_MISSING = object()
# Not in typeshed, but public since Python 2.6: JSONDecoder uses it (the C version when built).
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_STRUCTURE = re.compile(r'["\[\]{}]')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def finite_float(text: str) -> float:
    """``float(text)``, refusing what JSON cannot say (``1e400``).

    Example: ``json.loads(text, parse_float=finite_float)``.
    """
    value = float(text)
    if not math.isfinite(value):  # 1e400: JSON has no infinity, and we could never echo it
        raise ValueError(f"{text[:20]} is out of range")
    return value


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts deeper than ``limit`` (iterative: no recursion).

    Level by level, and only containers are kept for the next level: a wide message (a long
    list of small objects) costs one pass, without a stack entry per scalar.
    """
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend([child for child in children if isinstance(child, (dict, list))])
        level = below
        depth += 1
    return False


def top_level_only(text: str) -> str | None:
    """``text`` with every list/object below the top level replaced by ``null``; ``None`` if
    its strings or brackets do not match.

    Why: ``json.loads`` on a body nested hundreds deep raises ``RecursionError`` at a depth that
    depends on how much stack the caller already uses. Parsing this copy instead still reads the
    envelope, so the reply to a too-deep message is the same wherever it is parsed.
    """
    pieces: list[str] = []
    depth = 0
    kept_from = 0
    position = 0
    search = _STRUCTURE.search
    while match := search(text, position):
        at = match.start()
        char = text[at]
        if char == '"':
            try:
                position = scanstring(text, at + 1)[1]  # C, linear; skips brackets in strings
            except ValueError:
                return None
            continue
        position = at + 1
        if char in "[{":
            depth += 1
            if depth == 2:
                pieces.append(text[kept_from:at])
        else:
            depth -= 1
            if depth < 0:
                return None
            if depth == 1:
                pieces.append("null")
                kept_from = position
    if depth:
        return None
    pieces.append(text[kept_from:])
    return "".join(pieces)


class DecodedJson(NamedTuple):
    """A parsed body, how many brackets it opens, and why it is not strict JSON (or None)."""

    value: Any
    brackets: int
    problem: str | None


def decode_json(raw: bytes) -> DecodedJson:
    """``raw`` as JSON, strictly: UTF-8 only (a leading BOM is dropped); ``WsError
    ("invalid_json")`` when it cannot be parsed at all.

    ``json.loads(bytes)`` would guess UTF-16/32 and Python would let through an encoded
    surrogate; decoding first closes both. ``NaN``, ``Infinity`` and numbers like ``1e400``
    (infinity once parsed) are not JSON either: they become ``None`` and ``problem`` says so,
    so the caller can still read the envelope before refusing the message.
    """
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
        # One decoder for every message (json.loads with hooks builds one per call); it stops
        # at the first thing that is not strict JSON and the lenient parse below takes over.
        message = _STRICT_DECODER.decode(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        raise WsError("invalid_json", "The message is not valid UTF-8 JSON") from None
    except (_NotStrict, RecursionError):
        return _decode_lenient(text)
    return DecodedJson(message, text.count("[") + text.count("{"), None)


class _NotStrict(Exception):
    """Raised inside the strict decoder: ``NaN``, ``Infinity`` or a number out of range."""


def _not_strict_constant(name: str) -> Any:
    raise _NotStrict(name)


def _finite_or_not_strict(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(text[:20])
    return value


_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_not_strict_constant, parse_float=_finite_or_not_strict
)


def _decode_lenient(text: str) -> DecodedJson:
    """``text`` parsed with what is not strict JSON noted (``problem``) instead of refused, so
    that the envelope can still be read; too deep a nesting is parsed from the top level."""
    problems: list[str] = []

    def constant(name: str) -> None:
        problems.append("it has a non-number constant")

    def number(text: str) -> float | None:
        value = float(text)
        if math.isfinite(value):
            return value
        problems.append("it has a number out of range")
        return None

    try:
        message = json.loads(text, parse_constant=constant, parse_float=number)
    except ValueError:
        raise WsError("invalid_json", "The message is not valid UTF-8 JSON") from None
    except RecursionError:
        shallow = top_level_only(text)
        try:
            if shallow is None:
                raise ValueError
            message = json.loads(shallow, parse_constant=constant, parse_float=number)
        except ValueError:
            raise WsError("invalid_json", "The message is not valid UTF-8 JSON") from None
        problems.insert(0, "it is nested too deep to parse")
    return DecodedJson(
        message, text.count("[") + text.count("{"), problems[0] if problems else None
    )


def check_depth(message: Any, brackets: int, max_depth: int) -> None:
    """``WsError("invalid_json")`` if ``message`` nests deeper than ``max_depth``.

    The depth cannot exceed the number of opening brackets: most messages skip the walk.
    """
    if brackets > max_depth and nesting_depth_exceeds(message, max_depth):
        raise WsError("invalid_json", f"The message is nested deeper than {max_depth} levels")


class ParsedMessage:
    """What the client sent: the reply envelope (action, id) is known before anything can fail."""

    def __init__(self, selection_key: str) -> None:
        self.selection_key = selection_key
        self.envelope: dict[str, Any] = {"action": None}
        self.original: dict[str, Any] = {}

    def parse(self, request: HttpRequest) -> dict[str, Any]:
        """The body without the route key and ``id``; ``WsError`` for anything malformed."""
        settings = merged_settings()  # one lookup for both limits
        limit = settings["MAX_BODY_BYTES"]
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise WsError("too_large", f"Messages are limited to {limit} bytes", status=413)
        raw = request.read(limit + 1)
        if len(raw) > limit:
            raise WsError("too_large", f"Messages are limited to {limit} bytes", status=413)
        message, brackets, problem = decode_json(raw)
        if not isinstance(message, dict):
            if problem:
                raise WsError("invalid_json", f"The message is not valid JSON: {problem}")
            check_depth(message, brackets, settings["MAX_JSON_DEPTH"])
            raise WsError("invalid_message", "The message must be a JSON object")
        self.original = message
        action = message.get(self.selection_key)
        if isinstance(action, str) and len(action) <= 128:
            self.envelope["action"] = action
        message_id = message.get("id", _MISSING)
        if message_id is not _MISSING:
            if isinstance(message_id, bool) or not (
                (isinstance(message_id, str) and len(message_id) <= 128)
                or (isinstance(message_id, int) and abs(message_id) < 2**53)
            ):
                raise WsError(
                    "invalid_message",
                    "id must be a string of at most 128 characters or an integer",
                    [{"path": "$.id", "message": "invalid id"}],
                )
            self.envelope["id"] = message_id
        # Only now: a message nested too deep, or with 1e400 in it, still gets its envelope.
        if problem:
            raise WsError("invalid_json", f"The message is not valid JSON: {problem}")
        check_depth(message, brackets, settings["MAX_JSON_DEPTH"])
        if action is not None and self.envelope["action"] is None:
            raise WsError(
                "invalid_message",
                f"{self.selection_key} must be a string of at most 128 characters",
                [{"path": json_path([self.selection_key]), "message": "invalid route key"}],
            )
        return {k: v for k, v in message.items() if k != self.selection_key and k != "id"}
