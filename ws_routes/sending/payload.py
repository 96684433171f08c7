"""The message of one send: encoded to JSON once, refused over API Gateway's 128 KiB."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .sigv4 import EMPTY_SHA256

#: API Gateway's limit for one message, in bytes of the encoded payload.
MAX_PAYLOAD_BYTES = 128 * 1024


class PayloadTooLarge(ValueError):
    """The encoded message is larger than API Gateway accepts (128 KiB); nothing was sent.

    Example::

        try:
            session.send(big)
        except PayloadTooLarge as exc:
            print(exc.size, exc.limit)
    """

    def __init__(self, size: int, limit: int = MAX_PAYLOAD_BYTES) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"message is {size} bytes once encoded; API Gateway accepts at most {limit} "
            f"bytes ({limit // 1024} KiB). Send less, or send a reference the client can fetch."
        )


class Payload:
    """An encoded message and its SHA-256, computed once per send (SigV4 signs the hash)."""

    __slots__ = ("body", "sha256")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


#: The payload of a request without a body (``DELETE``).
NO_BODY = Payload(b"")


def encode_payload(data: Any) -> bytes:
    """``data`` as the bytes to post: JSON (UTF-8, compact), or ``bytes`` as they are.

    Raises ``TypeError`` for what JSON cannot encode (and NaN/Infinity, which browsers' JSON
    cannot parse) and :class:`PayloadTooLarge` over 128 KiB.

    Example: ``encode_payload({"text": "héllo"}) == '{"text":"héllo"}'.encode()``.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
    else:
        try:
            text = json.dumps(
                data,
                cls=DjangoJSONEncoder,
                ensure_ascii=False,
                allow_nan=False,
                separators=(",", ":"),
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(
                f"cannot send a {type(data).__name__}: it is not JSON-serialisable ({exc}). "
                "Send dicts, lists, strings, numbers, booleans and None (dates, decimals and "
                "UUIDs are converted), or bytes you encoded yourself."
            ) from exc
        body = text.encode("utf-8")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(body))
    return body
