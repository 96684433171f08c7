"""One port, three faces: client WebSockets, ``@connections`` and the control plane.

Paths: ``/{stage}`` (WebSocket), ``/{stage}/@connections/{id}`` (management API), ``/v2/...``
(the ``apigatewayv2`` control plane); anything else answers AWS's 403 ``{"message":
"Forbidden"}``. One port rather than a second one for the control plane: the paths cannot
collide (every control-plane path has at least three segments under ``/v2/``, no WebSocket
path has two), and one ``--port`` is one thing to configure and to forward.

:class:`GatewayServer` is the asyncio core (used by ``manage.py runwsgateway``);
:class:`LocalGateway` runs one in a background thread with its own event loop, for tests and for
anything else that is not itself async.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from .config import GatewayConfig
from .connections import ConnectionRegistry
from .control_plane import CONTROL_PLANE_PREFIX, ControlPlane
from .integration import Integration
from .lambda_proxy import LambdaFunctions
from .management_api import CONNECTIONS_PATH, ManagementApi
from .management_auth import ManagementCredentials, resolve_management_credentials
from .request_guard import ControlPlaneGuard
from .stages import StageResolver
from .websocket import GOING_AWAY, WebSocketEndpoint

logger = logging.getLogger("ws_routes.local_gateway")

#: Seconds ``stop()`` waits for DISCONNECT posts still in flight before cancelling them.
DRAIN_SECONDS = 5.0


#: Distinct wrong paths logged per server (then silent: a scanner cannot flood the log).
MAX_LOGGED_WRONG_STAGES = 50


def forbidden() -> web.Response:
    """AWS's answer to a path outside a deployed stage (a wrong stage in a URL)."""
    return web.json_response(
        {"message": "Forbidden"}, status=403, headers={"x-amzn-ErrorType": "ForbiddenException"}
    )


class GatewayServer:
    """The gateway in the current event loop: ``await start()``, ``await stop()``.

    Example::

        server = GatewayServer(GatewayConfig(target="http://127.0.0.1:8000/ws/", secret="s"))
        await server.start()
        print(server.url, server.management_endpoint)
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        # StateFileError here: a corrupt --state file is refused before anything binds.
        self.control_plane = ControlPlane.from_file(config.state_file, lambda: self.api_endpoint)
        #: In-process Lambda handlers (``lambda_handlers``) for AWS_PROXY integrations.
        self.functions = LambdaFunctions(config.lambda_handlers or {}, self._host_for_domain())
        self.stages = StageResolver(config, self.control_plane, self.functions)
        #: What ``@connections`` requests must be signed with (see ``management_auth``).
        self.management_credentials: ManagementCredentials = resolve_management_credentials(
            config.management_credentials, config.host, os.environ
        )
        self.control_plane.guard = ControlPlaneGuard(
            self.management_credentials, config.host, lambda: self.port
        )
        self.registry = ConnectionRegistry()
        self._logged_wrong_stages: set[str] = set()
        self.port: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def api_endpoint(self) -> str:
        """What ``get_api`` answers as ``ApiEndpoint``: ``ws://127.0.0.1:8001`` (no stage)."""
        return f"ws://{self._host_for_urls()}:{self.port}"

    @property
    def url(self) -> str:
        """Where clients connect to the configured stage: ``ws://127.0.0.1:8001/local``."""
        return f"{self.api_endpoint}/{self.config.stage}"

    @property
    def management_endpoint(self) -> str:
        """``endpoint_url`` for boto3 / ``MANAGEMENT_ENDPOINT``: ``http://127.0.0.1:8001/local``."""
        return f"{self.control_plane_endpoint}/{self.config.stage}"

    @property
    def control_plane_endpoint(self) -> str:
        """``endpoint_url`` of ``apigatewayv2`` / ``AWS_ENDPOINT_URL_APIGATEWAYV2``."""
        return f"http://{self._host_for_urls()}:{self.port}"

    def _host_for_domain(self) -> str:
        """``requestContext.domainName`` of Lambda events: the host clients reach (no port)."""
        host = self._host_for_urls()
        return "localhost" if host.startswith("[") else host

    def _host_for_urls(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task that ``stop()`` waits for (events still owed to Django)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("gateway task failed", exc_info=task.exception())

    def _wrong_stage(self, path: str) -> web.Response:
        """403 as AWS answers, and a log line naming the stages that do exist."""
        if len(self._logged_wrong_stages) < MAX_LOGGED_WRONG_STAGES:
            shown = path[:80]
            if shown not in self._logged_wrong_stages:
                self._logged_wrong_stages.add(shown)
                stages = self.stages.stage_names()
                logger.warning(
                    "403 Forbidden for %r: no stage of that name answers here. Stages: %s.",
                    shown,
                    ", ".join(f"/{name}" for name in stages) if stages else "none deployed yet",
                )
        return forbidden()

    async def start(self) -> None:
        """Bind the port (``port=0``: any free one, read ``.port`` after) and serve."""
        config = self.config
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100), auto_decompress=True
        )
        integration = Integration(config, self._session)
        websocket = WebSocketEndpoint(config, self.registry, integration, self.spawn, self.stages)
        management = ManagementApi(config, self.registry, self.management_credentials)

        async def dispatch(request: web.Request) -> web.StreamResponse:
            path = request.raw_path.partition("?")[0]
            stage_path, marker, raw_id = path.partition(CONNECTIONS_PATH)
            if marker:
                if self.stages.stage_of_path(stage_path) is None:
                    return self._wrong_stage(stage_path)
                return await management.handle(request, raw_id)
            if path.startswith(CONTROL_PLANE_PREFIX):
                return await self.control_plane.handle(request)
            runtime = self.stages.stage_of_path(path)
            if runtime is None:
                return self._wrong_stage(path)
            return await websocket.handle(request, runtime)

        app = web.Application(client_max_size=config.max_message_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", dispatch)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=config.close_timeout + 1,
            keepalive_timeout=config.http_idle_timeout,
        )
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, config.host, config.port)
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            await self._session.close()
            raise
        self.port = self._runner.addresses[0][1]
        logger.info(
            "local API Gateway on %s -> %s (management API %s, control plane %s)",
            self.url,
            config.target
            or ("the Lambda handler" if config.quick_start_lambda else "deployed routes only"),
            self.management_endpoint,
            self.control_plane_endpoint,
        )

    async def stop(self) -> None:
        """Close every socket (1001, Django gets DISCONNECT), then free the port."""
        for connection in self.registry.all():
            connection.close(*GOING_AWAY)
        for connection in self.registry.all():
            await connection.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.functions.shutdown()
        self.port = None


class LocalGateway:
    """A local API Gateway in a background thread; a context manager for tests.

    Example::

        with LocalGateway("http://127.0.0.1:8000/ws/", secret="s3cret", port=0) as gateway:
            ...  # clients connect to gateway.url; boto3 uses gateway.management_endpoint

    Keyword options are :class:`GatewayConfig` fields (``idle_timeout=1``, ``route_keys=...``).
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        secret: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        self.config = GatewayConfig(target=target, secret=secret, port=port, host=host, **options)
        self.server = GatewayServer(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self.server.port is None:
            raise RuntimeError("LocalGateway is not started")
        return self.server.port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/<stage>``: where WebSocket clients connect."""
        self.port  # noqa: B018 - raises if not started
        return self.server.url

    @property
    def management_endpoint(self) -> str:
        """``http://127.0.0.1:<port>/<stage>``: the ``@connections`` endpoint of the stage."""
        self.port  # noqa: B018 - raises if not started
        return self.server.management_endpoint

    @property
    def api_endpoint(self) -> str:
        """``ws://127.0.0.1:<port>``: the ``ApiEndpoint`` of every API (clients add ``/stage``)."""
        self.port  # noqa: B018 - raises if not started
        return self.server.api_endpoint

    @property
    def control_plane_endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: ``endpoint_url`` for an ``apigatewayv2`` client."""
        self.port  # noqa: B018 - raises if not started
        return self.server.control_plane_endpoint

    @property
    def management_credentials(self) -> ManagementCredentials:
        """The SigV4 keys ``@connections`` accepts.

        Example: ``key_id, secret = gateway.management_credentials.first()``.
        """
        return self.server.management_credentials

    def connection_ids(self) -> list[str]:
        """Ids of the sockets open right now."""
        return self._call(self._ids())

    async def _ids(self) -> list[str]:
        return self.server.registry.ids()

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("LocalGateway is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> LocalGateway:
        """Start serving; returns once the port is bound (raises if it cannot be).

        Safe to call from async code too: the gateway's loop lives only in its own thread.
        """
        if self._thread is not None:
            raise RuntimeError("LocalGateway already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(self.server.start())
                except BaseException as error:  # reported to start()'s caller
                    failure.append(error)
                    return
                finally:
                    ready.set()
                loop.run_forever()
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="ws-routes-local-gateway", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Close every socket, send the DISCONNECTs, free the port and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self.server.stop(), timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            self._loop = self._thread = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
