"""AWS Signature Version 4 check of ``@connections`` requests, as API Gateway does it.

The local gateway verifies every management request (see ``management_auth`` for where its
credentials come from), so no web page or local process without the key can post to, read or
close a socket, and the library's hand-written signer is tested against a real verifier. As on
AWS: the payload hash is computed from the body received (``X-Amz-Content-SHA256`` must agree
with it), ``X-Amz-Date`` must be signed and within 15 minutes of the gateway's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
#: A signed request is refused when its X-Amz-Date is further than this from the gateway's
#: clock. AWS (IAM User Guide, "AWS Signature Version 4 for API requests", replay protection):
#: "in most cases, a request must reach AWS within five minutes of the time stamp"; the
#: emulator allows 15 minutes of skew (issue 10) so a dev machine's drifting clock still works.
MAX_CLOCK_SKEW = timedelta(minutes=15)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
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


def _check_clock_skew(timestamp: str, now: datetime | None) -> None:
    if not _AMZ_DATE.fullmatch(timestamp):
        raise SignatureError("X-Amz-Date must be a date like 20240102T030405Z.")
    signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    if signed_at < current - MAX_CLOCK_SKEW:
        raise SignatureError(f"Signature expired: {timestamp} is more than 15 minutes old.")
    if signed_at > current + MAX_CLOCK_SKEW:
        raise SignatureError(f"Signature not yet current: {timestamp} is in the future.")


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
    now: datetime | None = None,
) -> str:
    """Check one signed request; returns the access key id, raises ``SignatureError``.

    ``raw_path`` is the path and query string exactly as sent (still percent-encoded); for
    services other than S3, SigV4 encodes that path once more in the canonical request.
    ``now`` (default: the clock) is what ``X-Amz-Date`` may differ from by ``MAX_CLOCK_SKEW``.
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
    _check_clock_skew(timestamp, now)
    path, _, query = raw_path.partition("?")
    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise SignatureError("'Host' must be a signed header.")
    if "x-amz-date" not in signed_names:
        raise SignatureError("'X-Amz-Date' must be a signed header.")
    canonical_headers = "".join(
        f"{name}:{_canonical_header_value(headers, name)}\n" for name in signed_names
    )
    # The body received, never the client's claim about it (that would let a signed request
    # carry any body).
    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("X-Amz-Content-SHA256")
    if claimed is not None and not hmac.compare_digest(claimed.strip().lower(), payload_hash):
        raise SignatureError("X-Amz-Content-SHA256 does not match the body received.")
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
