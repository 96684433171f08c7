"""A real loopback HTTP server that plays API Gateway's management API for the sender's tests.

It checks every request's SigV4 signature with botocore's own ``SigV4Auth`` (a bad signature
gets 403, as from AWS) and answers according to the connection id:

- ``gone-*``: 410 GoneException;
- ``throttle{n}-*``: 429 LimitExceededException the first ``n`` times, then 200;
- ``flaky{n}-*``: 500 the first ``n`` times, then 200;
- ``error-*``: 500 always;
- ``slow-*``: answers after ``slow_seconds`` (longer than the sender's timeout in tests);
- ``denied-*``: 403;
- anything else: 200.

Example::

    with FakeManagementApi(credentials=("AKID", "SECRET", None)) as api:
        ...  # point WS_ROUTES["MANAGEMENT_ENDPOINT"] at api.url
        assert api.received[0].connection_id == "abc="
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_SIGNED_HEADERS_RE = re.compile(r"SignedHeaders=([^,]+)")
_SIGNATURE_RE = re.compile(r"Signature=([0-9a-f]{64})")
_COUNTED_RE = re.compile(r"(throttle|flaky)(\d+)-")


@dataclass
class Received:
    method: str
    raw_path: str
    connection_id: str
    body: bytes
    signature_ok: bool
    region: str | None
    status: int = 0


class FakeManagementApi:
    """Runs on its own thread and loop; ``url`` is ``http://127.0.0.1:{port}``."""

    def __init__(
        self,
        credentials: tuple[str, str, str | None] | None = ("testing", "testing", None),
        slow_seconds: float = 2.0,
        latency: float = 0.0,
    ) -> None:
        self.credentials = credentials
        self.slow_seconds = slow_seconds
        self.latency = latency
        self.received: list[Received] = []
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeManagementApi:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def verify(self, request: web.Request, body: bytes) -> tuple[bool, str | None]:
        """Recompute the signature as AWS would, from what was received."""
        authorization = request.headers.get("Authorization", "")
        if self.credentials is None:
            # A local gateway without credentials: unsigned requests are the expected ones.
            return not authorization, None
        credential = _CREDENTIAL_RE.search(authorization)
        signed = _SIGNED_HEADERS_RE.search(authorization)
        signature = _SIGNATURE_RE.search(authorization)
        if not (credential and signed and signature):
            return False, None
        access_key, _date, region, service = credential.groups()
        key, secret, token = self.credentials
        if access_key != key or service != "execute-api":
            return False, region
        headers = {name: request.headers[name] for name in signed.group(1).split(";")}
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.raw_path}",
            data=body,
            headers=headers,
        )
        aws_request.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        auth = SigV4Auth(Credentials(key, secret, token), "execute-api", region)
        canonical = auth.canonical_request(aws_request)
        expected = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
        token_ok = token is None or request.headers.get("X-Amz-Security-Token") == token
        return expected == signature.group(1) and token_ok, region

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        raw_path = request.raw_path
        if "/@connections/" not in raw_path:
            return web.Response(status=404)
        connection_id = unquote(raw_path.rsplit("/@connections/", 1)[1])
        signature_ok, region = self.verify(request, body)
        received = Received(request.method, raw_path, connection_id, body, signature_ok, region)
        with self._lock:
            self.received.append(received)
            self.attempts[connection_id] += 1
            attempt = self.attempts[connection_id]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            response = await self._answer(connection_id, attempt, signature_ok)
            received.status = response.status
            return response
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, connection_id: str, attempt: int, signature_ok: bool) -> web.Response:
        if not signature_ok:
            return web.json_response({"message": "Forbidden"}, status=403)
        if connection_id.startswith("gone-"):
            return web.json_response({"message": "GoneException"}, status=410)
        counted = _COUNTED_RE.match(connection_id)
        if counted and attempt <= int(counted.group(2)):
            status = 429 if counted.group(1) == "throttle" else 500
            return web.json_response({"message": "try again"}, status=status)
        if connection_id.startswith("error-"):
            return web.json_response({"message": "Internal"}, status=500)
        if connection_id.startswith("denied-"):
            return web.json_response({"message": "Forbidden"}, status=403)
        if connection_id.startswith("slow-"):
            await asyncio.sleep(self.slow_seconds)
        return web.Response(status=200)

    def answered(self, status: int = 200) -> list[str]:
        """Connection ids of the requests answered with ``status``, in arrival order."""
        return [r.connection_id for r in self.received if r.status == status]
