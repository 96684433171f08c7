"""Test helpers for the local gateway: a stub Django backend, raw and real WebSocket clients.

Everything binds 127.0.0.1 on port 0 and runs its own event loop thread, stopped by the test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import json
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from aiohttp import web

DEADLINE = 10.0  # seconds any single scenario may take before the test fails


def run(coroutine: Any, timeout: float = DEADLINE) -> Any:
    """Run one async scenario in a fresh loop, failing (not hanging) after ``timeout``."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


@dataclass
class Event:
    """One POST the gateway made to the backend."""

    event: str
    route: str
    connection_id: str
    headers: dict[str, str]
    body: bytes
    query_string: str
    path: str


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def echo(event: Event) -> Reply:
    """Default backend behaviour: accept connects, echo messages with their route."""
    if event.event != "MESSAGE":
        return Reply()
    text = event.body.decode("utf-8", "replace")
    return Reply(
        body=json.dumps({"route": event.route, "echo": text, "connectionId": event.connection_id})
    )


class StubBackend:
    """A stand-in for Django's gateway view: records every event, answers with ``respond``.

    ``respond(event) -> Reply`` (or an awaitable of one) may be swapped at any time.
    """

    def __init__(self, respond: Callable[[Event], Any] = echo) -> None:
        self.respond = respond
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ws/"

    async def _handle(self, request: web.Request) -> web.Response:
        event = Event(
            event=request.headers.get("X-Ws-Event", ""),
            route=request.headers.get("X-Ws-Route", ""),
            connection_id=request.headers.get("X-Ws-Connection-Id", ""),
            headers=dict(request.headers),
            body=await request.read(),
            query_string=request.query_string,
            path=request.path,
        )
        with self._lock:
            self.events.append(event)
        reply = self.respond(event)
        if inspect.isawaitable(reply):
            reply = await reply
        if reply.delay:
            await asyncio.sleep(reply.delay)
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        return web.Response(status=reply.status, body=body, headers=reply.headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> StubBackend:
        self._loop.run_until_complete(self._start())
        self._thread = threading.Thread(target=self._loop.run_forever, name="stub-backend")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent): a backend that went down."""
        if self._loop.is_closed():
            return
        assert self._runner is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def of(self, kind: str, connection_id: str | None = None) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.event == kind and (connection_id is None or e.connection_id == connection_id)
            ]

    def wait_for(self, kind: str, connection_id: str | None = None, timeout: float = 5) -> Event:
        """Block (polling) until an event of ``kind`` arrived; returns the first one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(kind, connection_id)
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"no {kind} event for {connection_id!r} within {timeout}s")

    async def await_event(
        self, kind: str, connection_id: str | None = None, timeout: float = 5
    ) -> Event:
        return await asyncio.to_thread(self.wait_for, kind, connection_id, timeout)


def management_client(endpoint: str, *, key: str = "AKIDLOCAL", secret: str = "local-secret"):
    """A plain boto3 ``apigatewaymanagementapi`` client aimed at the local gateway."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


# -- a raw WebSocket client, for what real clients never send ---------------------------------


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """Encode one client frame (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


class RawWebSocket:
    """Handshake by hand, then write arbitrary bytes and read server frames."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes = b""
    ) -> None:
        self.reader, self.writer = reader, writer
        self.head = head  # the handshake response's status line and headers

    async def read_body(self) -> bytes:
        """The body of a refused handshake (its Content-Length bytes)."""
        match = re.search(rb"(?i)content-length: *(\d+)", self.head)
        return await self.reader.readexactly(int(match.group(1))) if match else b""

    @classmethod
    async def connect(
        cls, port: int, path: str = "/local", headers: dict[str, str] | None = None
    ) -> tuple[int, RawWebSocket]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = await reader.readuntil(b"\r\n\r\n")
        status = int(response.split(b" ", 2)[1])
        if status == 101:
            accept = base64.b64encode(
                hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
            )
            assert accept in response, response
        return status, cls(reader, writer, response)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def dribble(self, data: bytes, step: int = 1) -> None:
        """Write ``data`` a few bytes at a time, so frame headers straddle TCP reads."""
        for start in range(0, len(data), step):
            self.writer.write(data[start : start + step])
            await self.writer.drain()
            await asyncio.sleep(0)

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return first & 0x0F, await self.reader.readexactly(length)

    async def read_close(self) -> int:
        """Read frames until the server's close frame; returns its code."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def abort(self) -> None:
        """Vanish: drop the TCP connection without a close frame."""
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def control_plane_client(gateway: Any, region: str = "us-east-1") -> Any:
    """A plain boto3 ``apigatewayv2`` client for ``gateway``'s control plane, signing with the
    credentials it accepts (the control plane refuses unsigned requests, issue 19)."""
    key_id, secret_key = gateway.management_credentials.first()
    return boto3.client(
        "apigatewayv2",
        endpoint_url=gateway.control_plane_endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
    )


def sigv4_headers(
    credentials: tuple[str, str], method: str, url: str, body: bytes, service: str = "apigateway"
) -> dict[str, str]:
    """The headers botocore's own SigV4 signer adds to a raw request (for hand-made ones)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(*credentials), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())
