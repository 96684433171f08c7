"""Push messages to WebSocket clients through API Gateway's management API (``@connections``).

Every send, to one session or to a channel of 100,000, goes the same way:

1. ``data`` is encoded to JSON once, and refused (:class:`PayloadTooLarge`, ``TypeError``) before
   anything is sent;
2. recipients are streamed from the database in keyset-paginated chunks (memory stays flat) and
   handed to one long-lived event loop thread shared by the whole process;
3. there, at most ``SEND_CONCURRENCY`` posts are in flight over pooled keep-alive connections,
   each signed with SigV4 (credentials from boto3's chain, refreshed when temporary);
4. 429 and 5xx answers, timeouts and broken connections are retried with exponential backoff and
   full jitter (``SEND_MAX_RETRIES``), then counted as failed; 410 means the client is gone (a
   post that timed out may still have been delivered, so its retry can deliver it twice);
5. gone sessions are marked disconnected in one UPDATE, and a :class:`SendResult` accounts for
   every recipient exactly once.

Example::

    from ws_routes.models import WebSocketSession

    result = WebSocketSession.objects.filter(channel_name="lobby").send({"text": "hi"})
    print(result.delivered, result.gone, result.failed)
    result = await WebSocketSession.objects.filter(channel_name="lobby").asend({"text": "hi"})

The network side is a :class:`Transport`: :class:`HttpTransport` (the default: SigV4 over the
small keep-alive client of :mod:`ws_routes.http1`) or :class:`Boto3Transport` (botocore clients,
e.g. under moto or behind a proxy), chosen by
``WS_ROUTES["SEND_TRANSPORT"]`` (a dotted path or an instance) or passed as ``transport=``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import urllib.request
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from .conf import ws_settings
from .http1 import ConnectionPools, HttpError
from .sigv4 import EMPTY_SHA256, SigV4Signer

if TYPE_CHECKING:
    from .models import WebSocketSession

logger = logging.getLogger(__name__)

#: API Gateway's limit for one message, in bytes of the encoded payload.
MAX_PAYLOAD_BYTES = 128 * 1024

#: Rows per UPDATE when marking gone sessions; one statement unless more than this are gone
#: (SQLite refuses more than 32,766 parameters in a statement).
GONE_UPDATE_BATCH = 10_000

# Fields read per recipient: the primary key (to mark it gone) and what builds its endpoint.
_ROW_FIELDS = ("pk", "connection_id", "api_id", "stage")

# What the view accepts in X-Ws-Api-Id / X-Ws-Stage (security.py), but never empty. Checked
# because they end up in a URL: a hostile value must not point the signed request at another
# host or path.
_API_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STAGE_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_CONNECTION_ID_MAX = 128


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


class TransportError(Exception):
    """A post could not be completed (connection refused, reset...): retried, then failed;
    failed at once when ``retryable`` is false (e.g. no credentials).

    Raised by :class:`Transport` implementations; never reaches the caller of ``send``.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class SendResult:
    """What happened to each recipient of one send: every one is counted exactly once.

    ``gone`` recipients had disconnected (410) and are now marked ``connected=False``;
    ``failed`` ones could not be reached after retries (their sessions are left as they were).
    ``deferred`` is true when the send waits for ``transaction.on_commit``: nothing is counted yet.

    Example::

        result = session.channel_members().send({"text": "hi"})
        if result.failed:
            logger.warning("not delivered to %s", result.failed_ids)
    """

    delivered: int = 0
    gone: int = 0
    failed: int = 0
    gone_ids: list[str] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    deferred: bool = False

    @property
    def total(self) -> int:
        """Recipients accounted for: ``delivered + gone + failed``."""
        return self.delivered + self.gone + self.failed

    def __add__(self, other: SendResult) -> SendResult:
        if not isinstance(other, SendResult):
            return NotImplemented
        return SendResult(
            delivered=self.delivered + other.delivered,
            gone=self.gone + other.gone,
            failed=self.failed + other.failed,
            gone_ids=self.gone_ids + other.gone_ids,
            failed_ids=self.failed_ids + other.failed_ids,
            deferred=self.deferred or other.deferred,
        )


# --------------------------------------------------------------------------------------------
# Payload


class Payload:
    """An encoded message and its SHA-256, computed once per send (SigV4 signs the hash)."""

    __slots__ = ("body", "sha256")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


_NO_BODY = Payload(b"")


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


# --------------------------------------------------------------------------------------------
# Endpoints


@dataclass(frozen=True)
class Endpoint:
    """One management API endpoint: ``url`` (scheme, host, stage path) and its signing region."""

    url: str
    region: str
    scheme: str = field(init=False, repr=False, compare=False)
    hostname: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)
    host: str = field(init=False, repr=False, compare=False)  # the Host header
    path: str = field(init=False, repr=False, compare=False)
    is_aws: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            port = parts.port
        except ValueError as exc:
            raise ImproperlyConfigured(f"management endpoint {self.url!r}: {exc}") from exc
        hostname = parts.hostname or ""
        if (
            parts.scheme not in ("http", "https")
            or not hostname
            or not hostname.isascii()
            or parts.query
            or parts.fragment
            or parts.username
            or not parts.path.isascii()
        ):
            raise ImproperlyConfigured(
                f"management endpoint {self.url!r} is not an http(s) URL with an ASCII host "
                "and path, and no query, fragment or user"
            )
        default_port = 443 if parts.scheme == "https" else 80
        host = f"[{hostname}]" if ":" in hostname else hostname
        if port and port != default_port:
            host = f"{host}:{port}"
        path = quote(parts.path.rstrip("/"), safe="/@%:~!$&'()*+,;=-._")
        set_field = object.__setattr__
        set_field(self, "scheme", parts.scheme)
        set_field(self, "hostname", hostname)
        set_field(self, "port", port or default_port)
        set_field(self, "host", host)
        set_field(self, "path", path)
        set_field(self, "is_aws", hostname.endswith(".amazonaws.com"))

    def connection_path(self, connection_id: str) -> str:
        """The percent-encoded path of one connection: ``/prod/@connections/Ab1%3D``."""
        return f"{self.path}/@connections/{quote(connection_id, safe='')}"


def management_endpoint(api_id: str, stage: str, region: str | None) -> str:
    """The ``@connections`` base URL of one gateway stage.

    ``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}`` unless
    ``WS_ROUTES["MANAGEMENT_ENDPOINT"]`` overrides it (it may use ``{api_id}``, ``{stage}`` and
    ``{region}``). Values that would change the URL's host or path are refused (``ValueError``).

    Example::

        management_endpoint("abc123", "prod", "eu-west-2")
        # 'https://abc123.execute-api.eu-west-2.amazonaws.com/prod'
    """
    return _endpoint_url(ws_settings()["MANAGEMENT_ENDPOINT"], api_id, stage, region)


def _endpoint_url(template: str | None, api_id: str, stage: str, region: str | None) -> str:
    template = template or "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"
    if "{api_id}" in template and not _API_ID_RE.fullmatch(api_id or ""):
        raise ValueError(f"session has no valid API id ({api_id!r}) to build its endpoint from")
    if "{stage}" in template and not _STAGE_RE.fullmatch(stage or ""):
        raise ValueError(f"session has no valid stage ({stage!r}) to build its endpoint from")
    if "{region}" in template and not (region and _STAGE_RE.fullmatch(region)):
        raise ImproperlyConfigured(
            "no AWS region for the management API: set WS_ROUTES['REGION'] or AWS_REGION"
        )
    return template.format(api_id=api_id, stage=stage, region=region).rstrip("/")


class _EndpointResolver:
    """Endpoints of one send, built once per (api_id, stage); errors remembered likewise."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.template: str | None = settings["MANAGEMENT_ENDPOINT"]
        needs_region = not self.template or "{region}" in self.template
        self.region = settings["REGION"] or _chain_region()
        if needs_region and not self.region:
            raise ImproperlyConfigured(
                "no AWS region for the management API: set WS_ROUTES['REGION'] or AWS_REGION "
                "(or WS_ROUTES['MANAGEMENT_ENDPOINT'] for a local gateway)"
            )
        # A local endpoint without {region} still needs one to sign with; any will do.
        self.signing_region = self.region or "us-east-1"
        self._cache: dict[tuple[str, str], Endpoint | str] = {}

    def __call__(self, api_id: str, stage: str) -> Endpoint | str:
        """The endpoint, or a string saying why there is none."""
        key = (api_id, stage)
        found = self._cache.get(key)
        if found is None:
            try:
                url = _endpoint_url(self.template, api_id, stage, self.region)
                found = Endpoint(url, self.signing_region)
            except (ValueError, ImproperlyConfigured) as exc:
                found = str(exc)
            self._cache[key] = found
        return found


def _valid_connection_id(connection_id: Any) -> bool:
    return (
        isinstance(connection_id, str)
        and 0 < len(connection_id) <= _CONNECTION_ID_MAX
        and connection_id not in (".", "..")
        and connection_id.isprintable()
    )


# --------------------------------------------------------------------------------------------
# Process-wide state: region and credentials from boto3's chain, the event loop thread,
# transports. All of it is forgotten in a forked child.

_state_lock = threading.Lock()
_chain_region_cache: list[str | None] = []
_boto3_session: list[Any] = []


def _boto3_default_session() -> Any:
    """One boto3 Session per process (creating one is slow and not thread-safe)."""
    with _state_lock:
        if not _boto3_session:
            import boto3

            _boto3_session.append(boto3.session.Session())
        return _boto3_session[0]


def _chain_region() -> str | None:
    """The region boto3 would use (AWS_REGION, AWS_DEFAULT_REGION, config file), once."""
    if not _chain_region_cache:
        region = _boto3_default_session().region_name
        _chain_region_cache.append(region)
    return _chain_region_cache[0]


def _chain_credentials() -> Any:
    """Frozen credentials from boto3's chain; refreshable ones refresh themselves here."""
    credentials = _boto3_default_session().get_credentials()
    return None if credentials is None else credentials.get_frozen_credentials()


class _LoopThread:
    """One daemon thread running one event loop, started on first use, restarted after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None:
            return loop
        with self._lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="ws-routes-sender", daemon=True
                )
                thread.start()
                ready.wait()
                self.thread = thread
                self.loop = loop
            return self.loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def in_loop_thread(self) -> bool:
        return self.thread is not None and threading.current_thread() is self.thread


_loop_thread = _LoopThread()
_transports: dict[str, Transport] = {}
# Objects of a parent process, kept referenced in a forked child so that garbage collection
# never tries to close the parent's sockets or loop from the child.
_abandoned: list[Any] = []


# Every transport made in this process, so that a forked child can make them forget
# connections, pools and threads that belong to the parent (including instances given in
# settings, which the child inherits).
_live_transports: weakref.WeakSet[Any] = weakref.WeakSet()


def _forget_after_fork() -> None:
    global _loop_thread, _state_lock
    _abandoned.extend([_loop_thread, dict(_transports), list(_boto3_session)])
    _loop_thread = _LoopThread()
    _state_lock = threading.Lock()
    _transports.clear()
    _boto3_session.clear()
    _chain_region_cache.clear()
    for transport in list(_live_transports):
        transport._after_fork()


os.register_at_fork(after_in_child=_forget_after_fork)


def _shutdown() -> None:
    """At exit: close pooled connections politely, then stop the loop."""
    loop = _loop_thread.loop
    if loop is None or not loop.is_running():
        return

    async def close_all() -> None:
        for transport in list(_transports.values()):
            with contextlib.suppress(Exception):
                await transport.aclose()

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=2)
    loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)


def reset_sender() -> None:
    """Forget cached transports, region and credentials (tests; after changing AWS settings).

    Open connections of the forgotten transports are closed in the background.
    """
    with _state_lock:
        old = list(_transports.values())
        _transports.clear()
        _boto3_session.clear()
        _chain_region_cache.clear()
    loop = _loop_thread.loop
    if loop is not None and old:

        async def close_old() -> None:
            for transport in old:
                with contextlib.suppress(Exception):
                    await transport.aclose()

        asyncio.run_coroutine_threadsafe(close_old(), loop).result(timeout=5)


# --------------------------------------------------------------------------------------------
# Transports


@runtime_checkable
class Transport(Protocol):
    """How one request reaches the management API. Implementations run in the sender's loop.

    ``request`` returns the HTTP status; it raises ``TimeoutError`` on timeout and
    :class:`TransportError` when the request could not be completed. ``prepare`` runs in the
    calling thread (never the loop) before each chunk, where blocking work such as refreshing
    credentials may happen.

    Example, a transport that records posts (for tests)::

        class Recorder:
            def __init__(self):
                self.posts = []
            def prepare(self):
                pass
            async def request(self, method, endpoint, connection_id, payload, timeout):
                self.posts.append((connection_id, payload.body))
                return 200
            async def aclose(self):
                pass

        WS_ROUTES = {"SEND_TRANSPORT": Recorder()}
    """

    def prepare(self) -> None: ...

    async def request(
        self,
        method: str,
        endpoint: Endpoint,
        connection_id: str,
        payload: Payload,
        timeout: float,
    ) -> int: ...

    async def aclose(self) -> None: ...


class HttpTransport:
    """Signed requests over pooled keep-alive connections: ~0.05 ms of CPU per post.

    Uses :mod:`ws_routes.http1` (a minimal HTTP/1.1 client: aiohttp costs 0.15-0.2 ms per
    request) and :mod:`ws_routes.sigv4`. Credentials come from boto3's chain (environment,
    config files, container or instance role), re-read at least every ``credentials_ttl``
    seconds; botocore refreshes temporary ones before they expire. With no credentials at all,
    requests to an overridden ``MANAGEMENT_ENDPOINT`` (a local gateway) go unsigned; requests to
    AWS fail. HTTP proxies are not supported: behind one, use :class:`Boto3Transport`.

    Example: ``WS_ROUTES = {"SEND_TRANSPORT": "ws_routes.sending.HttpTransport"}`` (the default).
    """

    credentials_ttl = 60.0
    user_agent = "django-ws-routes"

    def __init__(self, credentials: Callable[[], Any] | None = None) -> None:
        self._credentials_source = credentials or _chain_credentials
        # (credentials, signers by region): replaced as a whole when credentials change.
        self._signing: tuple[Any, dict[str, SigV4Signer]] = (None, {})
        self._credentials_read_at = -1e9
        self._pools: ConnectionPools | None = None
        self._proxied: dict[str, bool] = {}
        _live_transports.add(self)

    def _after_fork(self) -> None:
        _abandoned.append(self._pools)  # the parent's sockets: never closed from here
        self._pools = None
        self._credentials_read_at = -1e9

    def prepare(self) -> None:
        if time.monotonic() - self._credentials_read_at < self.credentials_ttl:
            return
        credentials = self._credentials_source()
        if credentials != self._signing[0]:
            self._signing = (credentials, {})
        self._credentials_read_at = time.monotonic()

    def _signer(self, region: str) -> SigV4Signer | None:
        credentials, signers = self._signing
        signer = signers.get(region)
        if signer is None:
            if credentials is None or not credentials.access_key:
                return None
            signer = SigV4Signer(
                credentials.access_key, credentials.secret_key, credentials.token, region
            )
            signers[region] = signer
        return signer

    def _behind_proxy(self, endpoint: Endpoint) -> bool:
        proxied = self._proxied.get(endpoint.hostname)
        if proxied is None:
            proxies = urllib.request.getproxies()
            proxied = bool(proxies.get(endpoint.scheme)) and not urllib.request.proxy_bypass(
                endpoint.hostname
            )
            self._proxied[endpoint.hostname] = proxied
        return proxied

    async def request(
        self,
        method: str,
        endpoint: Endpoint,
        connection_id: str,
        payload: Payload,
        timeout: float,
    ) -> int:
        path = endpoint.connection_path(connection_id)
        signer = self._signer(endpoint.region)
        if signer is not None:
            signed = signer.sign(method, endpoint.host, path, payload.sha256)
            auth = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
        elif endpoint.is_aws:
            raise TransportError("no AWS credentials found by boto3's chain", retryable=False)
        else:
            auth = ""
        if self._behind_proxy(endpoint):
            raise TransportError(
                f"a proxy is configured for {endpoint.hostname}; HttpTransport does not use "
                "proxies: set WS_ROUTES['SEND_TRANSPORT'] to 'ws_routes.sending.Boto3Transport'",
                retryable=False,
            )
        body = payload.body
        data = (
            f"{method} {path} HTTP/1.1\r\nHost: {endpoint.host}\r\n"
            f"User-Agent: {self.user_agent}\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        ).encode("ascii") + body
        pools = self._pools
        if pools is None:
            pools = self._pools = ConnectionPools()
        try:
            status, answer = await pools.request(
                endpoint.scheme, endpoint.hostname, endpoint.port, data, timeout
            )
        except HttpError as exc:
            raise TransportError(str(exc)) from exc
        if status >= 300 and status != 410:
            logger.debug("%s %s: %s %r", method, path, status, answer[:300])
        return status

    async def aclose(self) -> None:
        pools, self._pools = self._pools, None
        if pools is not None:
            pools.close()


class Boto3Transport:
    """Posts through botocore's ``apigatewaymanagementapi`` clients, one cached per endpoint.

    Slower than :class:`HttpTransport` (~0.6 ms of CPU per post, run in a thread pool) but it
    goes wherever botocore goes: under ``moto.mock_aws``, through a proxy, or with a client you
    built yourself. ``client_factory(endpoint_url, region)`` returns the client to use.

    Example::

        WS_ROUTES = {"SEND_TRANSPORT": Boto3Transport(
            client_factory=lambda url, region: my_session.client(
                "apigatewaymanagementapi", endpoint_url=url, region_name=region))}
    """

    def __init__(
        self,
        client_factory: Callable[[str, str], Any] | None = None,
        max_workers: int | None = None,
    ) -> None:
        self._client_factory = client_factory or self._default_client
        self._max_workers = max_workers
        self._clients: dict[Endpoint, Any] = {}
        self._clients_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        _live_transports.add(self)

    def _after_fork(self) -> None:
        # The parent's worker threads do not exist here, and its clients hold its sockets.
        _abandoned.extend([self._executor, self._clients])
        self._executor = None
        self._clients = {}
        self._clients_lock = threading.Lock()

    @staticmethod
    def _default_client(endpoint_url: str, region: str) -> Any:
        from botocore.config import Config

        settings = ws_settings()
        config = Config(
            # The sender retries with its own backoff; botocore must not retry as well.
            retries={"total_max_attempts": 1},
            connect_timeout=settings["SEND_TIMEOUT_SECONDS"],
            read_timeout=settings["SEND_TIMEOUT_SECONDS"],
            max_pool_connections=settings["SEND_CONCURRENCY"],
        )
        session = _boto3_default_session()
        with _state_lock:
            return session.client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint_url,
                region_name=region,
                config=config,
            )

    def prepare(self) -> None:
        pass

    def client(self, endpoint: Endpoint) -> Any:
        """The cached client of one endpoint."""
        client = self._clients.get(endpoint)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(endpoint)
                if client is None:
                    client = self._client_factory(endpoint.url, endpoint.region)
                    self._clients[endpoint] = client
        return client

    def _call(self, method: str, endpoint: Endpoint, connection_id: str, body: bytes) -> int:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            HTTPClientError,
            ReadTimeoutError,
        )
        from botocore.exceptions import ConnectionError as BotocoreConnectionError

        client = self.client(endpoint)
        try:
            if method == "DELETE":
                response = client.delete_connection(ConnectionId=connection_id)
            else:
                response = client.post_to_connection(ConnectionId=connection_id, Data=body)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "GoneException":
                return 410
            if code in ("LimitExceededException", "TooManyRequestsException"):
                return 429
            return int(status or 500)
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise TimeoutError(str(exc)) from exc
        except (HTTPClientError, BotocoreConnectionError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))

    async def request(
        self,
        method: str,
        endpoint: Endpoint,
        connection_id: str,
        payload: Payload,
        timeout: float,
    ) -> int:
        if self._executor is None:
            workers = self._max_workers or ws_settings()["SEND_CONCURRENCY"]
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="ws-routes-boto3")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._call, method, endpoint, connection_id, payload.body
        )

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


def get_transport(configured: Any = None) -> Transport:
    """The transport named by ``WS_ROUTES["SEND_TRANSPORT"]`` (or ``configured``), one instance
    per dotted path and process.

    Example: ``get_transport("ws_routes.sending.Boto3Transport")``.
    """
    if configured is None:
        configured = ws_settings()["SEND_TRANSPORT"]
    if not isinstance(configured, str):
        if not isinstance(configured, Transport):
            raise ImproperlyConfigured(
                f"WS_ROUTES['SEND_TRANSPORT'] {configured!r} has no prepare/request/aclose"
            )
        return configured
    transport = _transports.get(configured)
    if transport is None:
        with _state_lock:
            transport = _transports.get(configured)
            if transport is None:
                transport = import_string(configured)()
                _transports[configured] = transport
    return transport


# --------------------------------------------------------------------------------------------
# Delivery: runs in the loop thread.

# A recipient: primary key (None when unsaved), connection id, endpoint.
Target = tuple[Any, str, Endpoint]


@dataclass
class _Options:
    concurrency: int
    retries: int
    timeout: float
    backoff_base: float
    backoff_max: float

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> _Options:
        concurrency = int(settings["SEND_CONCURRENCY"])
        if concurrency < 1:
            raise ImproperlyConfigured("WS_ROUTES['SEND_CONCURRENCY'] must be at least 1")
        return cls(
            concurrency=concurrency,
            retries=max(0, int(settings["SEND_MAX_RETRIES"])),
            timeout=float(settings["SEND_TIMEOUT_SECONDS"]),
            backoff_base=float(settings["SEND_BACKOFF_BASE_SECONDS"]),
            backoff_max=float(settings["SEND_BACKOFF_MAX_SECONDS"]),
        )


@dataclass
class _Outcome:
    """Raw results of a delivery; turned into a SendResult once gone sessions are marked."""

    delivered: int = 0
    gone: list[tuple[Any, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    # (pk, connection id) of delivered targets, kept only when asked (DELETE): a broadcast's
    # memory must not grow with its recipients.
    delivered_targets: list[tuple[Any, str]] | None = None

    def fail(self, connection_id: str, reason: str) -> None:
        self.failed.append(connection_id)
        self.reasons[reason] += 1


_RETRYABLE = "retry"


def _classify(status: int) -> str:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if status == 429 or status >= 500:
        return _RETRYABLE
    return "failed"


class _Delivery:
    """Up to ``concurrency`` workers posting targets that arrive in chunks.

    Chunks wait in a queue of one, so the producer (reading the database) is at most one chunk
    ahead of the network: memory stays flat however many recipients there are.
    """

    def __init__(
        self,
        transport: Transport,
        method: str,
        payload: Payload,
        options: _Options,
        keep_delivered: bool = False,
    ) -> None:
        self.transport = transport
        self.method = method
        self.payload = payload
        self.options = options
        self.outcome = _Outcome(delivered_targets=[] if keep_delivered else None)
        self._pending: deque[Target] = deque()
        self._chunks: asyncio.Queue[list[Target] | None] = asyncio.Queue(maxsize=1)
        self._refill_lock = asyncio.Lock()
        self._closed = False

    async def put(self, chunk: list[Target]) -> None:
        await self._chunks.put(chunk)

    async def run(self, workers: int | None = None) -> _Outcome:
        count = min(workers or self.options.concurrency, self.options.concurrency)
        if count == 1:
            await self._worker()
        else:
            await asyncio.gather(*(self._worker() for _ in range(count)))
        return self.outcome

    async def run_list(self, targets: Sequence[Target]) -> _Outcome:
        """Deliver a known list: no queue, no more workers than targets."""
        self._pending.extend(targets)
        self._closed = True
        return await self.run(workers=len(targets) or 1)

    def start(self, first: Sequence[Target]) -> None:
        """Start the workers on a first chunk; more come through :meth:`put`."""
        self._pending.extend(first)
        self._running = asyncio.ensure_future(self.run())

    async def finish(self) -> _Outcome:
        """No more chunks: wait for the last posts and return the outcome."""
        await self._chunks.put(None)
        return await self._running

    async def _refill(self) -> None:
        async with self._refill_lock:
            if self._pending or self._closed:
                return
            chunk = await self._chunks.get()
            if chunk is None:
                self._closed = True
            else:
                self._pending.extend(chunk)

    async def _worker(self) -> None:
        pending = self._pending
        while True:
            while pending:
                await self._deliver(pending.popleft())
            if self._closed:
                return
            await self._refill()

    async def _deliver(self, target: Target) -> None:
        pk, connection_id, endpoint = target
        options = self.options
        attempt = 0
        while True:
            try:
                status = await self.transport.request(
                    self.method, endpoint, connection_id, self.payload, options.timeout
                )
                kind = _classify(status)
                reason = str(status)
            except (TimeoutError, asyncio.TimeoutError):
                kind, reason = _RETRYABLE, "timeout"
            except TransportError as exc:
                kind = _RETRYABLE if exc.retryable else "failed"
                reason = str(exc) or "transport error"
            except Exception as exc:  # a transport bug must not lose the recipient
                logger.exception("sending to %s failed unexpectedly", connection_id)
                kind, reason = "failed", f"{type(exc).__name__}"
            if kind == "delivered":
                self.outcome.delivered += 1
                if self.outcome.delivered_targets is not None:
                    self.outcome.delivered_targets.append((pk, connection_id))
                return
            if kind == "gone":
                self.outcome.gone.append((pk, connection_id))
                return
            if kind == _RETRYABLE and attempt < options.retries:
                delay = min(options.backoff_max, options.backoff_base * (2**attempt))
                await asyncio.sleep(random.uniform(0, delay))
                attempt += 1
                continue
            logger.debug("not delivered to %s: %s", connection_id, reason)
            self.outcome.fail(connection_id, reason)
            return


# --------------------------------------------------------------------------------------------
# Recipients: from the database in chunks, or from instances.


def _queryset_rows(queryset: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    """Connected sessions of ``queryset`` as lists of ``_ROW_FIELDS`` rows, ``chunk_size`` at a
    time, by keyset pagination on the primary key: each chunk is its own short query, so no
    cursor or transaction stays open while the network works.

    A sliced or combined queryset (``qs[:10]``, ``qs.union(...)``) cannot be filtered further;
    it is read with ``iterator(chunk_size)`` instead, skipping sessions that are not connected.
    """
    query = queryset.query
    if query.is_sliced or query.combinator:
        batch: list[tuple] = []
        rows = queryset.values_list(*_ROW_FIELDS, "connected").iterator(chunk_size=chunk_size)
        for *row, connected in rows:
            if connected:
                batch.append(tuple(row))
                if len(batch) >= chunk_size:
                    yield batch
                    batch = []
        if batch:
            yield batch
        return
    base = queryset.filter(connected=True).order_by("pk").values_list(*_ROW_FIELDS)
    last_pk = None
    while True:
        page = base if last_pk is None else base.filter(pk__gt=last_pk)
        rows = list(page[:chunk_size])
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        last_pk = rows[-1][0]


def _session_rows(sessions: Sequence[WebSocketSession]) -> list[tuple]:
    return [(s.pk, s.connection_id, s.api_id, s.stage) for s in sessions]


def _targets(rows: Iterable[tuple], resolve: _EndpointResolver, outcome: _Outcome) -> list[Target]:
    """Rows to targets; a row with no usable endpoint or connection id is failed right here."""
    targets: list[Target] = []
    for pk, connection_id, api_id, stage in rows:
        endpoint = resolve(api_id, stage)
        if not isinstance(endpoint, Endpoint):
            outcome.fail(str(connection_id), endpoint)
        elif not _valid_connection_id(connection_id):
            outcome.fail(str(connection_id), "invalid connection id")
        else:
            targets.append((pk, connection_id, endpoint))
    return targets


# --------------------------------------------------------------------------------------------
# Running a delivery. The caller reads the database and hands chunks of targets over; the loop
# thread does the network. A sync caller blocks on each hand-over; an async caller awaits it,
# and reads the database through ``sync_to_async``.


class _Job:
    """Everything one send needs, prepared and validated before anything is sent."""

    def __init__(
        self,
        method: str,
        body: bytes,
        transport: Transport | str | None,
        *,
        keep_delivered: bool = False,
    ) -> None:
        settings = ws_settings()
        self.method = method
        self.payload = Payload(body) if body else _NO_BODY
        self.options = _Options.from_settings(settings)
        self.chunk_size = max(1, int(settings["SEND_CHUNK_SIZE"]))
        self.resolve = _EndpointResolver(settings)
        self.transport = get_transport(transport)
        self.keep_delivered = keep_delivered

    def new_outcome(self) -> _Outcome:
        return _Outcome(delivered_targets=[] if self.keep_delivered else None)

    def targets(self, rows: Iterable[tuple], pre: _Outcome) -> list[Target]:
        """Targets of ``rows``; blocking (credentials may be refreshed), so never in the loop."""
        self.transport.prepare()
        return _targets(rows, self.resolve, pre)

    def next_targets(self, chunks: Iterator[list[tuple]], pre: _Outcome) -> list[Target] | None:
        """The next non-empty chunk of targets (reading the database), or None at the end."""
        for rows in chunks:
            targets = self.targets(rows, pre)
            if targets:
                return targets
        return None

    # Coroutines run in the loop thread.

    def _delivery(self) -> _Delivery:
        return _Delivery(
            self.transport, self.method, self.payload, self.options, self.keep_delivered
        )

    async def deliver_list(self, targets: Sequence[Target]) -> _Outcome:
        return await self._delivery().run_list(targets)

    async def start(self, first: Sequence[Target]) -> _Delivery:
        delivery = self._delivery()
        delivery.start(first)
        return delivery


def _sync_loop() -> asyncio.AbstractEventLoop:
    if _loop_thread.in_loop_thread():
        raise RuntimeError("send() cannot be called from the sender's own event loop thread")
    return _loop_thread.get()


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def _aon_loop(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def _deliver_list(job: _Job, rows: list[tuple]) -> _Outcome:
    """Deliver to rows already in memory: one hand-over, blocking until done."""
    pre = job.new_outcome()
    targets = job.targets(rows, pre)
    if not targets:
        return pre
    return _merge(pre, _on_loop(_sync_loop(), job.deliver_list(targets)))


def _deliver_stream(job: _Job, chunks: Iterator[list[tuple]]) -> _Outcome:
    """Deliver to every row of ``chunks`` (read lazily, chunk by chunk), blocking until done."""
    loop = _sync_loop()
    pre = job.new_outcome()
    first = job.next_targets(chunks, pre)
    if first is None:
        return pre
    if len(first) < job.chunk_size:
        # A short chunk is usually all there is (a small channel): then one hand-over.
        more = job.next_targets(chunks, pre)
        if more is None:
            return _merge(pre, _on_loop(loop, job.deliver_list(first)))
        first = first + more
    delivery = _on_loop(loop, job.start(first))
    try:
        while (targets := job.next_targets(chunks, pre)) is not None:
            _on_loop(loop, delivery.put(targets))
    finally:
        # Also after a database error: what was handed over is delivered and accounted for.
        outcome = _on_loop(loop, delivery.finish())
    return _merge(pre, outcome)


async def _adeliver_list(job: _Job, rows: list[tuple]) -> _Outcome:
    """:func:`_deliver_list` for async callers (no database: any worker thread will do)."""
    from asgiref.sync import sync_to_async

    pre = job.new_outcome()
    targets = await sync_to_async(job.targets, thread_sensitive=False)(rows, pre)
    if not targets:
        return pre
    return _merge(pre, await _aon_loop(_loop_thread.get(), job.deliver_list(targets)))


async def _adeliver_stream(job: _Job, chunks: Iterator[list[tuple]]) -> _Outcome:
    """:func:`_deliver_stream` for async callers: the same steps, awaited."""
    from asgiref.sync import sync_to_async

    loop = _loop_thread.get()
    pre = job.new_outcome()
    next_targets = sync_to_async(job.next_targets)  # thread-sensitive: the ORM reads here
    first = await next_targets(chunks, pre)
    if first is None:
        return pre
    if len(first) < job.chunk_size:
        more = await next_targets(chunks, pre)
        if more is None:
            return _merge(pre, await _aon_loop(loop, job.deliver_list(first)))
        first = first + more
    delivery = await _aon_loop(loop, job.start(first))
    try:
        while (targets := await next_targets(chunks, pre)) is not None:
            await _aon_loop(loop, delivery.put(targets))
    finally:
        outcome = await _aon_loop(loop, delivery.finish())
    return _merge(pre, outcome)


def _merge(pre: _Outcome, outcome: _Outcome) -> _Outcome:
    outcome.failed.extend(pre.failed)
    outcome.reasons.update(pre.reasons)
    return outcome


def _mark_disconnected(model: Any, using: str, pks: list[Any]) -> int:
    """Set ``connected=False`` on these sessions: one UPDATE (one per 10,000 pks)."""
    marked = 0
    now = timezone.now()
    manager = model._base_manager.using(using)
    for start in range(0, len(pks), GONE_UPDATE_BATCH):
        batch = pks[start : start + GONE_UPDATE_BATCH]
        marked += manager.filter(pk__in=batch, connected=True).update(
            connected=False, disconnected_at=now
        )
    return marked


def _finish(
    outcome: _Outcome,
    model: Any,
    using: str,
    sessions: Sequence[WebSocketSession] = (),
) -> SendResult:
    """Mark gone sessions (and DELETEd ones) disconnected, log failures, count everything."""
    disconnected = outcome.gone + (outcome.delivered_targets or [])
    pks = [pk for pk, _ in disconnected if pk is not None]
    if pks:
        _mark_disconnected(model, using, pks)
    if sessions and disconnected:
        ids = {connection_id for _, connection_id in disconnected}
        for session in sessions:
            if session.connection_id in ids:
                session.connected = False
    if outcome.failed:
        logger.warning(
            "%d of %d recipients not reached (%s); first: %s",
            len(outcome.failed),
            outcome.delivered + len(outcome.gone) + len(outcome.failed),
            ", ".join(f"{reason} x{n}" for reason, n in outcome.reasons.most_common(5)),
            ", ".join(outcome.failed[:5]),
        )
    return SendResult(
        delivered=outcome.delivered,
        gone=len(outcome.gone),
        failed=len(outcome.failed),
        gone_ids=[connection_id for _, connection_id in outcome.gone],
        failed_ids=outcome.failed,
    )


def _model_and_db(sessions: Sequence[WebSocketSession]) -> tuple[Any, str]:
    from .models import WebSocketSession

    first = sessions[0] if sessions else None
    model = type(first) if first is not None else WebSocketSession
    using = (first._state.db if first is not None else None) or router.db_for_write(model)
    return model, using


def _deferrable(using: str, on_commit: bool, send_now: Callable[[], SendResult]) -> SendResult:
    """``send_now()`` now, or once the open transaction on ``using`` commits.

    A deferred send returns ``SendResult(deferred=True)``; a failure then is logged by Django
    (``robust=True``) instead of breaking the commit of the caller.
    """
    if on_commit and transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(send_now, using=using, robust=True)
        return SendResult(deferred=True)
    return send_now()


def _send(
    method: str,
    recipients: QuerySet | Iterable[WebSocketSession],
    data: Any,
    *,
    on_commit: bool,
    transport: Transport | str | None,
) -> SendResult:
    body = encode_payload(data) if method == "POST" else b""
    job = _Job(method, body, transport, keep_delivered=method == "DELETE")
    if isinstance(recipients, QuerySet):
        queryset = recipients

        def send_now() -> SendResult:
            outcome = _deliver_stream(job, _queryset_rows(queryset, job.chunk_size))
            return _finish(outcome, queryset.model, queryset.db)

        return _deferrable(queryset.db, on_commit, send_now)

    sessions = list(recipients)
    model, using = _model_and_db(sessions)

    def send_now() -> SendResult:
        outcome = _deliver_list(job, _session_rows(sessions))
        return _finish(outcome, model, using, sessions)

    return _deferrable(using, on_commit, send_now)


async def _asend(
    recipients: QuerySet | Iterable[WebSocketSession],
    data: Any,
    transport: Transport | str | None,
) -> SendResult:
    from asgiref.sync import sync_to_async

    body = encode_payload(data)
    job = await sync_to_async(_Job, thread_sensitive=False)("POST", body, transport)
    if isinstance(recipients, QuerySet):
        model, using, sessions = recipients.model, recipients.db, []
        outcome = await _adeliver_stream(job, _queryset_rows(recipients, job.chunk_size))
    else:
        sessions = list(recipients)
        model, using = _model_and_db(sessions)
        outcome = await _adeliver_list(job, _session_rows(sessions))
    if outcome.gone:  # the UPDATE
        return await sync_to_async(_finish)(outcome, model, using, sessions)
    return _finish(outcome, model, using, sessions)


# --------------------------------------------------------------------------------------------
# Public API


def send_to_sessions(
    sessions: Iterable[WebSocketSession],
    data: Any,
    *,
    on_commit: bool = False,
    transport: Transport | str | None = None,
) -> SendResult:
    """Push ``data`` to these sessions, connected or not (the gateway is the judge: 410).

    A queryset is streamed as :func:`send_to_queryset` streams it. With ``on_commit=True``
    inside a transaction, the posts wait for it to commit and ``SendResult(deferred=True)``
    is returned.

    Example: ``send_to_sessions([alice_session, bob_session], {"text": "hi"})``.
    """
    return _send("POST", sessions, data, on_commit=on_commit, transport=transport)


def send_to_queryset(
    queryset: QuerySet,
    data: Any,
    *,
    on_commit: bool = False,
    transport: Transport | str | None = None,
) -> SendResult:
    """Push ``data`` to every connected session of ``queryset``, read from the database in
    chunks of ``SEND_CHUNK_SIZE`` while earlier chunks are being sent.

    Example: ``send_to_queryset(WebSocketSession.objects.filter(channel_name="lobby"), data)``.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"send_to_queryset needs a QuerySet, not {type(queryset).__name__}")
    return _send("POST", queryset, data, on_commit=on_commit, transport=transport)


async def asend_to_sessions(
    sessions: Iterable[WebSocketSession], data: Any, *, transport: Transport | str | None = None
) -> SendResult:
    """:func:`send_to_sessions` for async code: ``await asend_to_sessions([session], data)``.

    The event loop is never blocked: the posts are awaited, the UPDATE of gone sessions runs
    through ``sync_to_async``. Concurrent ``asend`` calls overlap.
    """
    return await _asend(sessions, data, transport)


async def asend_to_queryset(
    queryset: QuerySet, data: Any, *, transport: Transport | str | None = None
) -> SendResult:
    """:func:`send_to_queryset` for async code: ``await qs.asend(data)``.

    Chunks are read through ``sync_to_async`` while earlier ones are being sent.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"asend_to_queryset needs a QuerySet, not {type(queryset).__name__}")
    return await _asend(queryset, data, transport)


def disconnect_sessions(
    queryset_or_sessions: QuerySet | Iterable[WebSocketSession],
    *,
    transport: Transport | str | None = None,
) -> int:
    """Close these connections (``DELETE @connections/{id}``) and mark them disconnected.

    Returns how many are now closed, counting those the gateway already had as gone (410);
    sessions that could not be reached after retries are left as they were. A queryset's
    connected sessions are read in chunks. Used by the admin's Disconnect action.

    Example: ``disconnect_sessions(WebSocketSession.objects.filter(user=banned_user))``.
    """
    result = _send("DELETE", queryset_or_sessions, None, on_commit=False, transport=transport)
    return result.delivered + result.gone
