"""What AWS checks beyond the model's types, and the small helpers answers are built with.

Messages are AWS's where the developer guide or an AWS answer quoted there gives them.
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timezone
from typing import Any

from .paging import token_offset
from .service_model import BadRequest, members, output_names, service_model

#: Wire name of each resource's identifier.
ID_FIELDS = {
    "Api": "apiId",
    "Integration": "integrationId",
    "IntegrationResponse": "integrationResponseId",
    "Route": "routeId",
    "RouteResponse": "routeResponseId",
    "Model": "modelId",
    "Stage": "stageName",
    "Deployment": "deploymentId",
}
#: Unique keys inside one API (AWS answers ConflictException for a second one).
UNIQUE_KEYS = {"Route": "routeKey", "Model": "name", "RouteResponse": "routeResponseKey"}
#: ``maxResults`` bounds; AWS's default page is 25 (documented for ``GetApis``... ``GetRoutes``).
DEFAULT_PAGE = 25
MAX_PAGE = 500
_ID_ALPHABET = string.ascii_lowercase + string.digits


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def shaped(resource: dict[str, Any], shape_name: str | None) -> dict[str, Any]:
    """The resource as the output shape has it (members the model does not define dropped)."""
    names = output_names(shape_name)
    return {k: v for k, v in resource.items() if k in names}


def list_item_shape(output_shape: str | None) -> str | None:
    if output_shape is None:
        return None
    list_shape = members(output_shape)["Items"]["shape"]
    return str(service_model()["shapes"][list_shape]["member"]["shape"])


def page_bounds(query: dict[str, str], total: int) -> tuple[int, int]:
    raw_size = query.get("maxResults")
    try:
        size = DEFAULT_PAGE if raw_size is None else int(raw_size)
    except ValueError:
        raise BadRequest("Invalid input: maxResults must be an integer") from None
    if not 1 <= size <= MAX_PAGE:
        raise BadRequest(f"Invalid input: maxResults must be between 1 and {MAX_PAGE}")
    token = query.get("nextToken")
    if token is None:
        return 0, size
    return token_offset(token, total), size


def check_selection_expression(expression: str) -> None:
    # AWS developer guide, "WebSocket selection expressions": $request.body.{path} or ${...}.
    if not (expression.startswith("$request.body.") and len(expression) > 14) and not (
        expression.startswith("${request.body.") and expression.endswith("}")
    ):
        raise BadRequest(f"Invalid route selection expression {expression!r}")


def check_integration(integration: dict[str, Any]) -> None:
    kind = integration.get("integrationType")
    if kind in ("HTTP", "HTTP_PROXY") and not integration.get("integrationUri"):
        raise BadRequest("IntegrationUri is required for an HTTP integration")
    timeout = integration.get("timeoutInMillis", 29000)
    if not 50 <= timeout <= 29000:
        # AWS: "Timeout must be between 50 milliseconds and 29 seconds" (WebSocket APIs).
        raise BadRequest("Timeout must be between 50 milliseconds and 29 seconds.")
    for name, source in (integration.get("requestParameters") or {}).items():
        if not name.startswith(("integration.request.header.", "integration.request.querystring.")):
            raise BadRequest(f"Invalid mapping expression specified: {name}")
        if not (source.startswith("'") and source.endswith("'") and len(source) >= 2) and not (
            source.startswith(("context.", "route.request.", "stageVariables."))
        ):
            raise BadRequest(f"Invalid mapping expression specified: {source}")


def check_model(model: dict[str, Any]) -> None:
    if not model["name"].isalnum() or not model["name"].isascii():
        raise BadRequest("Model name must be alphanumeric")
    try:
        document = json.loads(model["schema"])
    except (ValueError, RecursionError):
        raise BadRequest("Invalid model specified: Validation Result: invalid JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("Invalid model specified: the schema must be a JSON object")
    check_refs(document)


def check_refs(document: Any) -> None:
    """Refuse a ``$ref`` that leaves the model (a URL, a file, another document).

    AWS resolves a model's ``$ref`` only to another model of the same API
    (``https://apigateway.amazonaws.com/restapis/{api_id}/models/{name}``, API Gateway
    developer guide, "Data models for REST APIs"); whether WebSocket APIs accept even that is
    unknown. The local gateway never fetches anything a state file or a client names, so it
    accepts only references inside the model (``#/definitions/...``).
    """
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if "$ref" in node and not (isinstance(ref, str) and ref.startswith("#")):
                raise BadRequest(
                    f"Invalid model specified: $ref {str(ref)[:200]!r} is refused: the local "
                    "gateway resolves references inside the model only (#/...)"
                )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
