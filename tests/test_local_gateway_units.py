"""The local gateway's parts on their own: frame-size guard, route selection, SigV4 verifier."""

from __future__ import annotations

import asyncio
import random
import struct
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from tests.e2e.support import frame
from ws_routes.local_gateway.frames import FrameSizeGuard
from ws_routes.local_gateway.route_selection import select_route
from ws_routes.local_gateway.sigv4 import SignatureError, verify_sigv4

KB = 1024


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: list[Exception | None] = []

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def guard(limit: int = 32 * KB) -> tuple[FrameSizeGuard, Recorder, list[int]]:
    inner, oversized = Recorder(), []
    return FrameSizeGuard(inner, limit, oversized.append), inner, oversized


def feed(target: FrameSizeGuard, data: bytes, sizes: list[int]) -> None:
    position = 0
    for size in sizes:
        target.data_received(data[position : position + size])
        position += size
    target.data_received(data[position:])


@pytest.mark.parametrize("chunking", ["whole", "bytewise", "random"])
def test_guard_passes_frames_within_the_limit_unchanged(chunking):
    stream = b"".join(
        [
            frame(0x1, b"small"),
            frame(0x1, b"x" * 200),  # 16-bit length
            frame(0x2, b"y" * (32 * KB)),  # exactly the limit
            frame(0x1, b"a" * 10, fin=False),
            frame(0x9, b"ping"),
            frame(0x0, b"b" * 10),
            frame(0x1, b""),
            frame(0x1, b"unmasked", mask=False),
        ]
    )
    target, inner, oversized = guard()
    if chunking == "whole":
        sizes: list[int] = []
    elif chunking == "bytewise":
        sizes = [1] * len(stream)
    else:
        rng = random.Random(7)
        sizes = [rng.randint(1, 9) for _ in range(len(stream) // 5)]
    feed(target, stream, sizes)
    assert bytes(inner.data) == stream
    assert oversized == [] and not target.violated


@pytest.mark.parametrize("bytewise", [False, True])
def test_guard_drops_an_oversized_frame_and_keeps_the_rest(bytewise):
    before, big, after = (
        frame(0x1, b"ok"),
        frame(0x1, b"z" * (32 * KB + 1)),
        frame(0x8, b"\x03\xe8"),
    )
    target, inner, oversized = guard()
    stream = before + big + after + frame(0x2, b"x" * (40 * KB))
    feed(target, stream, [1] * len(stream) if bytewise else [])
    assert oversized == [32 * KB + 1]  # reported once
    assert bytes(inner.data) == before + after  # the client's close frame still gets through


def test_guard_reports_64_bit_lengths_without_buffering_them():
    header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**62) + b"mask"
    target, inner, oversized = guard()
    target.data_received(header + b"\x00" * 1000)
    assert oversized == [2**62] and inner.data == b""


def test_guard_ignores_control_frame_lengths():
    # a 200-byte ping is a protocol error aiohttp reports itself (1002); the guard lets it by
    data = frame(0x9, b"p" * 200)
    target, inner, oversized = guard(limit=100)
    target.data_received(data)
    assert oversized == [] and bytes(inner.data) == data


def test_guard_forwards_connection_events():
    target, inner, _ = guard()
    error = ConnectionResetError()
    target.connection_lost(error)
    assert inner.lost == [error]


def test_guard_install_needs_a_swappable_transport():
    assert FrameSizeGuard.install(None, 10, print) is None
    assert FrameSizeGuard.install(object(), 10, print) is None


@pytest.mark.parametrize(
    ("data", "keys", "expected"),
    [
        ('{"action": "a"}', None, "a"),
        ('{"action": "a"}', {"b"}, "$default"),
        ('{"action": "b"}', {"b"}, "b"),
        ('{"action": ""}', None, "$default"),
        ('{"action": "$disconnect"}', None, "$default"),
        ('{"action": null}', None, "$default"),
        ('{"action": {"nested": 1}}', None, "$default"),
        ('"action"', None, "$default"),
        ("", None, "$default"),
        ("\ud800", None, "$default"),
        (b'{"action": "a"}', None, "$default"),  # binary frames never select a route
        ("{" * 50_000, None, "$default"),
    ],
)
def test_select_route(data, keys, expected):
    assert select_route(data, "action", keys) == expected


# -- SigV4 ---------------------------------------------------------------------------------------

CREDENTIALS = {"AKIDTEST": "secret-key"}


def signed(
    method: str = "POST",
    url: str = "http://127.0.0.1:8001/@connections/ab%2Bc%2Fd%3D",
    body: bytes = b"hello",
    key: str = "AKIDTEST",
    secret: str = "secret-key",
    region: str = "eu-west-2",
    extra: dict[str, str] | None = None,
) -> tuple[str, CIMultiDict[str], bytes]:
    """A request signed by botocore, as the gateway would receive it."""
    request = AWSRequest(method=method, url=url, data=body, headers=extra or {})
    SigV4Auth(Credentials(key, secret), "execute-api", region).add_auth(request)
    headers = CIMultiDict(request.headers.items())
    headers["Host"] = urlsplit(url).netloc
    parts = urlsplit(url)
    raw_path = parts.path + (f"?{parts.query}" if parts.query else "")
    return raw_path, headers, body


def verify(raw_path: str, headers, body: bytes, method: str = "POST") -> str:
    return verify_sigv4(
        method=method, raw_path=raw_path, headers=headers, body=body, credentials=CREDENTIALS
    )


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "http://127.0.0.1:8001/@connections/ab%2Bc%2Fd%3D", b"hello"),
        ("GET", "http://127.0.0.1:8001/local/@connections/x%3D", b""),
        ("DELETE", "http://localhost/@connections/a%20b", b""),
        ("POST", "http://127.0.0.1:8001/@connections/x?b=2&a=1&a=0", b"\x00\xff"),
    ],
)
def test_botocore_signatures_verify(method, url, body):
    raw_path, headers, body = signed(method, url, body)
    assert verify(raw_path, headers, body, method) == "AKIDTEST"


def test_tampering_is_detected():
    raw_path, headers, body = signed(extra={"X-Custom": "signed-value"})
    verify(raw_path, headers, body)
    cases = [
        (raw_path, headers, b"hellO"),
        (raw_path.replace("ab", "ac"), headers, body),
        (raw_path + "?x=1", headers, body),
    ]
    changed = headers.copy()
    changed["X-Custom"] = "other"
    cases.append((raw_path, changed, body))
    rehosted = headers.copy()
    rehosted["Host"] = "evil:1"
    cases.append((raw_path, rehosted, body))
    for case in cases:
        with pytest.raises(SignatureError, match="does not match"):
            verify(*case)
    with pytest.raises(SignatureError, match="does not match"):
        verify(raw_path, headers, body, method="DELETE")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h.pop("Authorization"), "Missing Authentication Token"),
        (lambda h: h.update(Authorization="Bearer abc"), "Missing Authentication Token"),
        (lambda h: h.update(Authorization="AWS4-HMAC-SHA256 garbage"), "Missing"),
        (lambda h: h.update({"X-Amz-Date": "19990101T000000Z"}), "Date in Credential scope"),
        (lambda h: h.pop("Host"), "Signed header 'host' is missing"),
    ],
)
def test_malformed_authorization_is_refused(mutate, message):
    raw_path, headers, body = signed()
    mutate(headers)
    with pytest.raises(SignatureError, match=message):
        verify(raw_path, headers, body)


def test_unknown_key_and_wrong_secret_are_refused():
    with pytest.raises(SignatureError, match="security token"):
        verify(*signed(key="AKIDOTHER"))
    with pytest.raises(SignatureError, match="does not match"):
        verify(*signed(secret="wrong"))


def test_host_must_be_signed():
    raw_path, headers, body = signed()
    authorization = headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    headers["Authorization"] = authorization
    with pytest.raises(SignatureError, match="'Host' must be a signed header"):
        verify(raw_path, headers, body)
