"""Optional AWS Signature Version 4 check of ``@connections`` requests.

The local gateway accepts any request by default (it is a local tool and SDKs always sign);
given credentials it verifies signatures the way API Gateway does, so a hand-written signer (the
library's pooled async sender) can be tested against a real verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*"
)


class SignatureError(Exception):
    """The request's signature is missing or wrong (API Gateway: 403 ForbiddenException)."""


def _remove_dot_segments(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    normalized = "/".join(segments)
    return normalized if normalized.startswith("/") else "/" + normalized


def _canonical_query(query: str) -> str:
    pairs = [pair.partition("=") for pair in query.split("&") if pair]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs))


def _canonical_header_value(headers: Mapping[str, str], name: str) -> str:
    if name not in headers:
        raise SignatureError(f"Signed header {name!r} is missing.")
    getall = getattr(headers, "getall", None)
    values = getall(name) if getall is not None else [headers[name]]
    return ",".join(" ".join(value.split()) for value in values)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 key for one day, region and service."""
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
) -> str:
    """Check one signed request; returns the access key id, raises ``SignatureError``.

    ``raw_path`` is the path and query string exactly as sent (still percent-encoded); for
    services other than S3, SigV4 encodes that path once more in the canonical request.
    """
    authorization = headers.get("Authorization", "")
    match = _AUTHORIZATION.fullmatch(authorization)
    if match is None:
        raise SignatureError("Missing Authentication Token")
    access_key, _, scope = match["credential"].partition("/")
    scope_parts = scope.split("/")
    if len(scope_parts) != 4 or scope_parts[3] != "aws4_request":
        raise SignatureError("Credential should be scoped to a valid region.")
    secret_key = credentials.get(access_key)
    if secret_key is None:
        raise SignatureError("The security token included in the request is invalid.")
    timestamp = headers.get("X-Amz-Date", "")
    if not timestamp.startswith(scope_parts[0]):
        raise SignatureError("Date in Credential scope does not match X-Amz-Date.")
    path, _, query = raw_path.partition("?")
    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise SignatureError("'Host' must be a signed header.")
    canonical_headers = "".join(
        f"{name}:{_canonical_header_value(headers, name)}\n" for name in signed_names
    )
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [
            method.upper(),
            quote(_remove_dot_segments(path), safe="/~"),
            _canonical_query(query),
            canonical_headers,
            match["signed"],
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    date, region, service, _ = scope_parts
    expected = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided."
        )
    return access_key
