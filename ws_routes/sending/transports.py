"""Transports: how one request reaches the management API.

:class:`HttpTransport` (the default) signs with :mod:`ws_routes.sending.sigv4` and posts over the
keep-alive client of :mod:`ws_routes.sending.http1`; :class:`Boto3Transport` goes through
botocore (moto, proxies, injected clients). ``WS_ROUTES["SEND_TRANSPORT"]`` names one (a dotted
path or an instance), resolved by :func:`get_transport`.

Example: ``get_transport("ws_routes.sending.Boto3Transport")``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import ws_settings
from . import process
from .endpoints import Endpoint
from .http1 import ConnectionPools, HttpError
from .payload import Payload
from .refusals import report_refused_signature
from .sigv4 import SigV4Signer

logger = logging.getLogger("ws_routes.sending")


class TransportError(Exception):
    """A post could not be completed (connection refused, reset...): retried, then failed;
    failed at once when ``retryable`` is false (e.g. no credentials).

    Raised by :class:`Transport` implementations; never reaches the caller of ``send``.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


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

    Uses :mod:`ws_routes.sending.http1` (a minimal HTTP/1.1 client: aiohttp costs 0.15-0.2 ms per
    request) and :mod:`ws_routes.sending.sigv4`. Credentials come from boto3's chain (environment,
    config files, container or instance role), re-read at least every ``credentials_ttl``
    seconds; botocore refreshes temporary ones before they expire. With no credentials at all,
    requests to an overridden ``MANAGEMENT_ENDPOINT`` (a local gateway) go unsigned; requests to
    AWS fail. TLS is verified with botocore's CA bundle (``AWS_CA_BUNDLE`` or the config file's
    ``ca_bundle``) when one is set. It speaks no proxy protocol: posts to a host an HTTP(S)
    proxy applies to (``HTTPS_PROXY``/``HTTP_PROXY``, less ``NO_PROXY``) go through a
    :class:`Boto3Transport` instead (logged once per host).

    Example: ``WS_ROUTES = {"SEND_TRANSPORT": "ws_routes.sending.HttpTransport"}`` (the default).
    """

    credentials_ttl = 60.0
    user_agent = "django-ws-routes"

    def __init__(self, credentials: Callable[[], Any] | None = None) -> None:
        self._credentials_source = credentials or process.chain_credentials
        # (credentials, signers by region): replaced as a whole when credentials change.
        self._signing: tuple[Any, dict[str, SigV4Signer]] = (None, {})
        self._credentials_read_at = -1e9
        self._pools: ConnectionPools | None = None
        self._proxied: dict[str, bool] = {}
        self._proxy_transport: Boto3Transport | None = None
        # (CA bundle path, context): botocore's bundle, read with the credentials.
        self._tls: tuple[str | None, ssl.SSLContext | None] = (None, None)
        _live_transports.add(self)

    def _after_fork(self) -> None:
        process.abandoned.append(self._pools)  # the parent's sockets: never closed from here
        self._pools = None
        self._credentials_read_at = -1e9

    def _read_ca_bundle(self) -> None:
        bundle = process.chain_ca_bundle()
        if bundle == self._tls[0] and (bundle is None or self._tls[1] is not None):
            return
        context = None
        if bundle is not None:
            try:
                context = ssl.create_default_context(cafile=bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ImproperlyConfigured(
                    f"the CA bundle {bundle!r} (AWS_CA_BUNDLE or the AWS config file's "
                    f"ca_bundle) cannot be loaded: {exc}"
                ) from exc
        pools, self._pools = self._pools, None
        if pools is not None:  # connections verified with the old bundle: not reused
            loop = process.running_loop()
            if loop is not None and loop.is_running():
                loop.call_soon_threadsafe(pools.close)  # the loop owns the sockets
        self._tls = (bundle, context)

    def prepare(self) -> None:
        if self._proxy_transport is not None:
            self._proxy_transport.prepare()
        if time.monotonic() - self._credentials_read_at < self.credentials_ttl:
            return
        self._read_ca_bundle()
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
            if proxied:
                logger.info(
                    "a proxy applies to %s: its posts go through Boto3Transport (botocore "
                    "speaks the proxy protocol, HttpTransport does not)",
                    endpoint.hostname,
                )
        return proxied

    def _through_proxy(self) -> Boto3Transport:
        transport = self._proxy_transport
        if transport is None:
            transport = self._proxy_transport = Boto3Transport()
        return transport

    async def request(
        self,
        method: str,
        endpoint: Endpoint,
        connection_id: str,
        payload: Payload,
        timeout: float,
    ) -> int:
        if self._behind_proxy(endpoint):
            return await self._through_proxy().request(
                method, endpoint, connection_id, payload, timeout
            )
        path = endpoint.connection_path(connection_id)
        signer = self._signer(endpoint.region)
        if signer is not None:
            signed = signer.sign(method, endpoint.host, path, payload.sha256)
            auth = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
        elif endpoint.is_aws:
            raise TransportError("no AWS credentials found by boto3's chain", retryable=False)
        else:
            auth = ""
        body = payload.body
        data = (
            f"{method} {path} HTTP/1.1\r\nHost: {endpoint.host}\r\n"
            f"User-Agent: {self.user_agent}\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        ).encode("ascii") + body
        pools = self._pools
        if pools is None:
            pools = self._pools = ConnectionPools(self._tls[1])
        try:
            status, answer = await pools.request(
                endpoint.scheme, endpoint.hostname, endpoint.port, data, timeout
            )
        except HttpError as exc:
            raise TransportError(str(exc)) from exc
        if status >= 300 and status != 410:
            logger.debug("%s %s: %s %r", method, path, status, answer[:300])
        if status == 403:
            report_refused_signature(endpoint.host, signer.access_key if signer else None, answer)
        return status

    async def aclose(self) -> None:
        pools, self._pools = self._pools, None
        if pools is not None:
            pools.close()
        proxied, self._proxy_transport = self._proxy_transport, None
        if proxied is not None:
            await proxied.aclose()


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
        process.abandoned.extend([self._executor, self._clients])
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
        session = process.boto3_default_session()
        with process.state_lock:
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
        with process.state_lock:
            transport = _transports.get(configured)
            if transport is None:
                transport = import_string(configured)()
                _transports[configured] = transport
    return transport


# Transports by dotted path, one instance per process.
_transports: dict[str, Transport] = {}
# Every transport made in this process, so that a forked child can make them forget
# connections, pools and threads that belong to the parent (including instances given in
# settings, which the child inherits).
_live_transports: weakref.WeakSet[Any] = weakref.WeakSet()


def _forget_after_fork() -> None:
    process.abandoned.append(dict(_transports))
    _transports.clear()
    for transport in list(_live_transports):
        transport._after_fork()


os.register_at_fork(after_in_child=_forget_after_fork)


async def _close_all(transports: list[Transport]) -> None:
    for transport in transports:
        with contextlib.suppress(Exception):
            await transport.aclose()


def _shutdown() -> None:
    """At exit: close pooled connections politely, then stop the loop."""
    loop = process.running_loop()
    if loop is None or not loop.is_running():
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(_close_all(list(_transports.values())), loop).result(
            timeout=2
        )
    loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)


def reset_sender() -> None:
    """Forget cached transports, region and credentials (tests; after changing AWS settings).

    Open connections of the forgotten transports are closed in the background.
    """
    with process.state_lock:
        old = list(_transports.values())
        _transports.clear()
        process.forget_aws_chain()
    loop = process.running_loop()
    if loop is not None and old:
        asyncio.run_coroutine_threadsafe(_close_all(old), loop).result(timeout=5)
