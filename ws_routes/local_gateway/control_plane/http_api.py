"""``/v2/apis/...`` over HTTP: the rest-json protocol botocore speaks for ``apigatewayv2``.

Errors are ``{"message": ...}`` with the ``x-amzn-ErrorType`` header botocore's rest-json parser
reads the code from, and the model's status code (``NotFoundException`` 404...).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ..streams import read_at_most
from .operations import Operations
from .service_model import ApiError, BadRequest, NotFound, find_operation
from .state import ControlPlaneState
from .tags import KEY_SEPARATOR

logger = logging.getLogger("ws_routes.local_gateway")

#: Where the control plane's paths start (every ``apigatewayv2`` ``requestUri`` does).
CONTROL_PLANE_PREFIX = "/v2/"
#: A model document is at most 32 KB (``StringWithLengthBetween0And32K``); bodies are bounded.
MAX_BODY_BYTES = 64 * 1024


def error_response(error: ApiError) -> web.Response:
    return web.json_response(
        {"message": error.message},
        status=error.status,
        headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


class ControlPlane:
    """The apigatewayv2 subset the library uses, served next to the data plane.

    Example::

        plane = ControlPlane(state_path=Path("gateway.json"), api_endpoint=lambda: "ws://...")
        response = await plane.handle(request)       # aiohttp request under /v2/
        plane.deployment("production")               # what the data plane runs on that stage
    """

    def __init__(self, state: ControlPlaneState, api_endpoint: Callable[[], str]) -> None:
        self.state = state
        self.operations = Operations(state, api_endpoint)
        #: The API each stage name last answered for (a change of owner is logged).
        self._stage_owners: dict[str, str] = {}
        # Who may call (request_guard.ControlPlaneGuard: SigV4, own Host, no browser); the
        # server installs it. None answers anyone: only for code that holds the object itself.
        self.guard: Any = None

    @classmethod
    def from_file(cls, path: Path | str | None, api_endpoint: Callable[[], str]) -> ControlPlane:
        """Load ``path`` (``StateFileError`` if corrupt); ``None`` keeps state in memory."""
        return cls(ControlPlaneState.load(path), api_endpoint)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one control-plane request; never raises, never half-writes the state."""
        try:
            return await self._handle(request)
        except ApiError as error:
            return error_response(error)
        except web.HTTPRequestEntityTooLarge:
            return error_response(BadRequest("Request body too large"))
        except Exception:  # a defect: logged, answered like AWS answers its own failures
            logger.exception("control plane request %s %s failed", request.method, request.path)
            return error_response(ApiError("InternalServerError", "Internal server error", 500))

    async def _handle(self, request: web.Request) -> web.Response:
        # The whole body (read() returns what has arrived): the signature covers all of it.
        read = await read_at_most(request.content, MAX_BODY_BYTES)
        if read is None:
            raise BadRequest("Request body too large")
        raw = read
        if self.guard is not None:
            refusal: web.Response | None = await self.guard.refuse(request, raw)
            if refusal is not None:
                return refusal
        path = request.raw_path.partition("?")[0]
        found = find_operation(request.method, path)
        if found is None:
            raise NotFound(f"No operation {request.method} {path} in the local gateway")
        operation, raw_params = found
        params = {name: unquote(value) for name, value in raw_params.items()}
        query = {name: request.query.getone(name) for name in request.query}
        if "tagKeys" in query:  # UntagResource repeats it (botocore: a querystring list)
            query["tagKeys"] = KEY_SEPARATOR.join(request.query.getall("tagKeys"))
        body = _parse_body(raw)
        status, answer = self.operations.run(operation, params, query, body)
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if answer is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(answer, status=status, headers=headers)

    def deployment(self, stage: str) -> tuple[str, dict[str, Any]] | None:
        """``(api_id, snapshot)`` of the last deployment on ``stage``, or ``None``.

        One host serves every API here (AWS gives each its own); when two APIs deploy a stage
        of the same name, the stage updated last answers.
        """
        best: tuple[str, str, dict[str, Any]] | None = None
        for api_id, record in self.state.apis.items():
            stage_record = record["stages"].get(stage)
            if stage_record is None:
                continue
            snapshot = record["snapshots"].get(stage_record.get("deploymentId", ""))
            if snapshot is None:
                continue
            stamp = str(stage_record.get("lastUpdatedDate", ""))
            if best is None or stamp >= best[0]:
                best = (stamp, api_id, snapshot)
        if best is None:
            return None
        previous = self._stage_owners.get(stage)
        if previous is not None and previous != best[1]:
            logger.warning(
                "Stage %r is now served by API %s (deployed there last); API %s's deployment on "
                "it no longer answers. One local gateway serves every API on one host: give each "
                "API its own stage name.",
                stage,
                best[1],
                previous,
            )
        self._stage_owners[stage] = best[1]
        return (best[1], best[2])

    def stage_names(self) -> list[str]:
        """Every stage with a deployment, sorted (what a 403 for a wrong stage lists)."""
        return sorted(
            {
                name
                for record in self.state.apis.values()
                for name, stage in record["stages"].items()
                if stage.get("deploymentId") in record["snapshots"]
            }
        )

    def has_deployments(self) -> bool:
        return any(record["snapshots"] for record in self.state.apis.values())


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("Invalid request body: not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("Invalid request body: expected a JSON object")
    return body
