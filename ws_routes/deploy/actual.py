"""What AWS has for a gateway's API, read with read-only calls only (:func:`read_actual`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import ApiGateway
from .aws import call_aws, is_not_found, list_all
from .desired import DesiredState
from .errors import AwsCallError, PlanError


@dataclass
class ActualState:
    """What AWS has for the gateway's API (read-only calls only)."""

    api: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    route_responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by StageName
    adopted_api_id: str = ""


def _find_api(client: Any, gateway: ApiGateway) -> tuple[dict[str, Any] | None, str]:
    if gateway.api_id:
        try:
            return call_aws(client, "get_api", ApiId=gateway.api_id), ""
        except AwsCallError as error:
            if not is_not_found(error):
                raise
            raise PlanError(
                f"Gateway {gateway.api_name!r}: API {gateway.api_id} does not exist in AWS "
                f"(region {gateway.get_region() or 'default'}). If it was deleted on purpose, "
                "blank api_id in the admin and sync again to create a new API (its endpoint URL "
                "will change)."
            ) from error
    same_name = [
        api
        for api in list_all(client, "get_apis")
        if api.get("Name") == gateway.api_name and api.get("ProtocolType") == "WEBSOCKET"
    ]
    if len(same_name) > 1:
        ids = ", ".join(sorted(api["ApiId"] for api in same_name))
        raise PlanError(
            f"Gateway {gateway.api_name!r}: several WebSocket APIs have that name in AWS ({ids});"
            " set api_id on the gateway to the one to manage."
        )
    if same_name:
        return same_name[0], same_name[0]["ApiId"]
    return None, ""


def read_actual(
    client: Any, gateway: ApiGateway, desired: DesiredState, *, prune: bool = True
) -> ActualState:
    """Read what AWS has (read-only calls). Example: ``read_actual(client, gw, desired).routes``.

    Route responses are read for the routes that need one or may be pruned.
    """
    api, adopted = _find_api(client, gateway)
    if api is None:
        return ActualState()
    api_id = api["ApiId"]
    state = ActualState(api=api, adopted_api_id=adopted)
    state.integrations = list_all(client, "get_integrations", ApiId=api_id)
    state.routes = {
        route["RouteKey"]: route for route in list_all(client, "get_routes", ApiId=api_id)
    }
    for key, route in state.routes.items():
        wanted = desired.routes.get(key)
        may_reply = key not in ("$connect", "$disconnect")
        if may_reply and (wanted.two_way if wanted is not None else prune):
            state.route_responses[route["RouteId"]] = list_all(
                client, "get_route_responses", ApiId=api_id, RouteId=route["RouteId"]
            )
    state.models = {model["Name"]: model for model in list_all(client, "get_models", ApiId=api_id)}
    for name, model in state.models.items():
        # GetModels' items may come without their Schema (botocore: Model.Schema is optional);
        # the schema of a model we compare is then read on its own (GetModel).
        if name in desired.models and model.get("Schema") is None:
            one = call_aws(client, "get_model", ApiId=api_id, ModelId=model["ModelId"])
            state.models[name] = {**model, "Schema": one.get("Schema")}
    state.stages = {
        stage["StageName"]: stage for stage in list_all(client, "get_stages", ApiId=api_id)
    }
    return state
