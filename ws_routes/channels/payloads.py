"""What a channel push looks like: the sender's JSON object plus ``channel`` (and ``seq``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ..sending import encode_payload

#: Keys a channel push adds to the data; the data may not carry them itself.
RESERVED_KEYS = ("channel", "seq")
#: The largest sequence number a push can carry (JavaScript's safe integers).
MAX_SEQ = 2**53 - 1


def channel_push(name: str, data: Any) -> dict[str, Any]:
    """``data`` (a JSON object) with ``channel`` added; ``TypeError``/``ValueError`` if unfit.

    The size is checked with the longest ``seq`` so a history row is never written for a
    message that cannot be pushed.
    """
    if not isinstance(data, Mapping):
        raise TypeError(
            f"A channel push must be a JSON object (dict), not {type(data).__name__}: the "
            "library adds 'channel' and 'seq' keys to it."
        )
    clash = [key for key in RESERVED_KEYS if key in data]
    if clash:
        raise ValueError(
            f"A channel push may not set {', '.join(clash)}: the library sets them. Rename "
            "the key in your data."
        )
    push = {**data, "channel": name}
    encode_payload({**push, "seq": MAX_SEQ})  # TypeError / PayloadTooLarge before any write
    return push


def encode_data(data: Mapping[str, Any]) -> str:
    """The stored form of a history message (what ``decode_data`` reads back)."""
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def decode_data(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {"data": value}
