"""Opaque ``nextToken`` values: a client cannot forge or edit one.

AWS's tokens are opaque strings (botocore: ``NextToken`` "The next page of elements from this
collection"); a token here is the page's offset signed with a key of this process (HMAC-SHA256),
so a bare index, an edited token or garbage is ``BadRequestException``, never a wrong page or
a 500. A restart changes the key: tokens of an earlier run are refused (list again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .service_model import BadRequest

_KEY = secrets.token_bytes(32)
#: A token is far shorter; longer input is refused before any work.
MAX_TOKEN_CHARS = 200


def _mac(payload: bytes) -> bytes:
    return hmac.new(_KEY, payload, hashlib.sha256).digest()[:16]


def next_token(offset: int) -> str:
    payload = str(offset).encode("ascii")
    return base64.urlsafe_b64encode(payload + b"." + _mac(payload)).decode("ascii").rstrip("=")


def token_offset(token: str, total: int) -> int:
    """The offset ``token`` was issued for; ``BadRequest`` for anything not issued here."""
    invalid = BadRequest("Invalid NextToken")
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise invalid from None
    payload, dot, mac = raw.partition(b".")
    if not dot or not payload.isdigit() or not hmac.compare_digest(mac, _mac(payload)):
        raise invalid
    offset = int(payload)
    if offset > total:
        raise invalid
    return offset
