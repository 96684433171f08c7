"""Encoding what the view answers: strict JSON, within API Gateway's 128 KB, envelope kept.

Every reply is standard JSON (``allow_nan=False``: no ``Infinity``/``NaN``); a reply that cannot
be encoded (not serialisable, nested past the stack) becomes an ``internal_error`` that still
carries ``action``/``id``; an error reply is bounded like any other reply.

Example: ``error_response(WsError("bad", "Bad"), {"action": "x", "id": 1})``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse

from .errors import WsError

logger = logging.getLogger("ws_routes")

#: API Gateway's own limit for a route response (and a message).
MAX_REPLY_BYTES = 128 * 1024
#: Encoded bytes of an error's ``details``; entries of a list beyond it are left out.
MAX_DETAILS_BYTES = 16 * 1024
#: Characters of an error's ``code`` and ``message`` kept when an error reply is over the limit.
MAX_CODE_CHARS = 64
MAX_MESSAGE_CHARS = 1024


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON; raises ``ValueError``/``TypeError``/``RecursionError`` if impossible.

    A lone surrogate (a client's ``"\\ud800"`` echoed back) is written as a ``\\u`` escape.
    """
    text = _ENCODER.encode(payload)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(payload).encode()


# Built once, not per reply (json.dumps(cls=...) makes a new encoder on every call).
_ENCODER = DjangoJSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ASCII_ENCODER = DjangoJSONEncoder(allow_nan=False, separators=(",", ":"))


def json_response(payload: Any, status: int = 200) -> HttpResponse:
    """``payload`` as a JSON response (see :func:`encode_json` for what it raises)."""
    return HttpResponse(encode_json(payload), status=status, content_type="application/json")


def _bounded_details(details: Any) -> Any:
    """``details`` if it encodes within ``MAX_DETAILS_BYTES``; a list keeps what fits."""
    try:
        if len(encode_json(details)) <= MAX_DETAILS_BYTES:
            return details
    except (TypeError, ValueError, RecursionError):
        logger.error("Error details are not JSON-serialisable: left out")
        return None
    if isinstance(details, (list, tuple)):
        kept: list[Any] = []
        size = 2
        for entry in details:
            try:
                size += len(encode_json(entry)) + 1
            except (TypeError, ValueError, RecursionError):
                break
            if size > MAX_DETAILS_BYTES:
                break
            kept.append(entry)
        return kept
    return None


def error_response(error: WsError, envelope: Mapping[str, Any] | None = None) -> HttpResponse:
    """``{**envelope, "error": {...}}`` with ``error.status``, always encodable, at most 128 KB."""
    envelope = envelope or {}
    for candidate in _error_candidates(str(error.code), str(error.message), error.details):
        try:
            content = encode_json({**envelope, "error": candidate})
        except (TypeError, ValueError, RecursionError):
            continue
        if len(content) <= MAX_REPLY_BYTES:
            return HttpResponse(content, status=error.status, content_type="application/json")
    content = encode_json({**envelope, "error": {"code": "internal_error", "details": None}})
    return HttpResponse(content, status=500, content_type="application/json")


def _error_candidates(code: str, message: str, details: Any) -> Iterator[dict[str, Any]]:
    """The error bodies to try, in order, each built only if the one before it did not fit:
    a refusal (no details, a short text) costs one encoding, less than the message it refuses."""
    if details is not None:
        yield {"code": code, "message": message, "details": _bounded_details(details)}
    yield {"code": code, "message": message, "details": None}
    yield {"code": code[:MAX_CODE_CHARS], "message": message[:MAX_MESSAGE_CHARS], "details": None}


def reply_response(envelope: Mapping[str, Any], result: Any) -> HttpResponse:
    """A handler's return value as the reply, or the ``internal_error`` / ``reply_too_large``
    error that replaces it, keeping the envelope either way."""
    try:
        content = encode_json({**envelope, "data": result})
    except Exception:  # TypeError, ValueError (NaN, circular), RecursionError (deep nesting)
        logger.exception("Reply of %r is not JSON-serialisable", envelope.get("action"))
        return error_response(
            WsError("internal_error", "The server failed to handle this message", status=500),
            envelope,
        )
    if len(content) > MAX_REPLY_BYTES:
        logger.error("Reply of %r is over 128 KB", envelope.get("action"))
        return error_response(
            WsError("reply_too_large", "The reply is over API Gateway's 128 KB", status=500),
            envelope,
        )
    return HttpResponse(content, content_type="application/json")
