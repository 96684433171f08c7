"""What answers on one stage: the last deployment there, or the quick-start configuration.

The data plane asks :class:`StageResolver` for the stage named by the URL path
(``ws://host:port/{stage}``, ``/{stage}/@connections/{id}``): AWS serves a WebSocket API only
under the stage it is deployed to and answers anything else 403 ``{"message": "Forbidden"}``
(AWS developer guide, "Invoke WebSocket APIs": ``wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .config import GatewayConfig
from .control_plane import ControlPlane
from .deployed import DeployedStage
from .integration import EventContext, Integration, IntegrationResponse
from .lambda_proxy import QUICK_START_FUNCTION_ARN, LambdaFunctions
from .route_selection import CONNECT_ROUTE, DISCONNECT_ROUTE, select_route


class StageRuntime(Protocol):
    """The configuration the data plane runs for one stage."""

    api_id: str
    stage: str

    def select_route(self, data: str) -> str | None:
        """The route for a text message; ``None``: no route (AWS answers ``Forbidden``)."""

    def has_route(self, key: str) -> bool:
        """Whether ``$connect`` / ``$disconnect`` are routes of the API."""

    def replies(self, route: str) -> bool:
        """Whether the integration's answer goes back to the client (a route response)."""

    def body_refused(self, route: str, data: str) -> bool:
        """Whether the route's request model refuses ``data`` (before the integration)."""

    async def call(
        self,
        integration: Integration,
        context: EventContext,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        query_string: str = "",
        handshake_headers: Mapping[str, str] | None = None,
    ) -> IntegrationResponse:
        """Call the route's integration for one event."""


class StaticStage:
    """``LocalGateway(target, secret=...)`` with nothing deployed: one integration for all.

    Every message route replies; ``route_keys`` (``None``: any action) are the API's routes,
    other actions go to ``$default``; the query string of the handshake is forwarded whole.
    With ``lambda_handlers={"*": handler}`` and no target the integration is that handler.
    """

    def __init__(self, config: GatewayConfig, functions: LambdaFunctions) -> None:
        self.config = config
        self.functions = functions
        self.api_id = config.api_id
        self.stage = config.stage

    def select_route(self, data: str) -> str | None:
        return select_route(data, self.config.route_selection_key, self.config.route_keys)

    def has_route(self, key: str) -> bool:
        return key in (CONNECT_ROUTE, DISCONNECT_ROUTE) or self.config.route_keys is None

    def replies(self, route: str) -> bool:
        return True

    def body_refused(self, route: str, data: str) -> bool:
        return False

    async def call(
        self,
        integration: Integration,
        context: EventContext,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        query_string: str = "",
        handshake_headers: Mapping[str, str] | None = None,
    ) -> IntegrationResponse:
        if self.config.quick_start_lambda is not None:
            return await self.functions.call(
                QUICK_START_FUNCTION_ARN,
                context,
                api_id=self.api_id,
                stage=self.stage,
                timeout=self.config.integration_timeout,
                body=body,
                query_string=query_string,
                handshake_headers=handshake_headers,
            )
        return await integration.call(
            context,
            body=body,
            content_type=content_type,
            query_string=query_string,
            handshake_headers=handshake_headers,
        )


class StageResolver:
    """Finds the runtime of a stage: deployed first, else the static configuration.

    A deployment replaces the static configuration on its stage at once (as
    ``create_deployment`` does on AWS); snapshots are parsed once per deployment.
    """

    def __init__(
        self, config: GatewayConfig, control_plane: ControlPlane, functions: LambdaFunctions
    ) -> None:
        quick_start = config.target is not None or config.quick_start_lambda is not None
        self.static = StaticStage(config, functions) if quick_start else None
        self.functions = functions
        self.control_plane = control_plane
        self._parsed: dict[int, DeployedStage] = {}

    def resolve(self, stage: str) -> StageRuntime | None:
        deployed = self.control_plane.deployment(stage)
        if deployed is not None:
            api_id, snapshot = deployed
            runtime = self._parsed.get(id(snapshot))
            if runtime is None or runtime.snapshot is not snapshot:
                runtime = DeployedStage(api_id, stage, snapshot, self.functions)
                self._parsed = {id(snapshot): runtime}
            return runtime
        if self.static is not None and stage == self.static.stage:
            return self.static
        return None

    def stage_names(self) -> list[str]:
        """The stages that answer: every deployed one, and the quick-start stage."""
        names = set(self.control_plane.stage_names())
        if self.static is not None:
            names.add(self.static.stage)
        return sorted(names)

    def stage_of_path(self, path: str) -> StageRuntime | None:
        """``/{stage}`` or ``/{stage}/`` → its runtime; anything else ``None`` (403)."""
        name = path[1:].removesuffix("/") if path.startswith("/") else ""
        if not name or "/" in name:
            return None
        return self.resolve(name)
