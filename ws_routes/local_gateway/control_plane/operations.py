"""The control plane's semantics: create / get / update / delete / list of each resource.

Shapes and validation come from botocore's model (:mod:`.service_model`); this module adds what
the model cannot say and AWS enforces: unique keys (``ConflictException``), references that must
exist (``NotFoundException`` / ``BadRequestException``), defaults AWS fills in, and
``CreateDeployment`` freezing the API into the snapshot the data plane runs
(AWS developer guide, "Deploy a WebSocket API in API Gateway": changes take effect only once
deployed to a stage).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .integration_responses import (
    IntegrationResponses,
    check_integration_templates,
    integration_defaults,
)
from .paging import next_token
from .rules import (
    ID_FIELDS,
    UNIQUE_KEYS,
    check_integration,
    check_model,
    check_selection_expression,
    list_item_shape,
    new_id,
    now,
    page_bounds,
    shaped,
)
from .service_model import BadRequest, Conflict, NotFound, Operation, check_body
from .state import SECTIONS, ControlPlaneState, empty_api
from .tags import OPERATIONS as TAG_OPERATIONS
from .tags import TagsAndAuthorizers, check_tags


class Operations:
    """Runs one model operation against the state; ``api_endpoint`` is what ``get_api`` says.

    Example::

        ops = Operations(ControlPlaneState(), api_endpoint=lambda: "ws://127.0.0.1:8001")
        status, answer = ops.run(operation, {"apiId": "abc"}, {}, {})
    """

    def __init__(self, state: ControlPlaneState, api_endpoint: Callable[[], str]) -> None:
        self.state = state
        self.api_endpoint = api_endpoint
        Change = Callable[[dict[str, str], dict[str, Any]], "dict[str, Any] | None"]
        self._changes: dict[str, Change] = {
            "CreateApi": self._create_api,
            "UpdateApi": self._update_api,
            "DeleteApi": self._delete_api,
            "CreateIntegration": self._create_integration,
            "UpdateIntegration": self._update_integration,
            "DeleteIntegration": self._delete_integration,
            "CreateRoute": self._create_route,
            "UpdateRoute": self._update_route,
            "DeleteRoute": self._delete_route,
            "CreateRouteResponse": self._create_routeresponse,
            "UpdateRouteResponse": self._update_routeresponse,
            "DeleteRouteResponse": self._delete_routeresponse,
            "CreateModel": self._create_model,
            "UpdateModel": self._update_model,
            "DeleteModel": self._delete_model,
            "CreateStage": self._create_stage,
            "UpdateStage": self._update_stage,
            "DeleteStage": self._delete_stage,
            "CreateDeployment": self._create_deployment,
            "UpdateDeployment": self._update_deployment,
            "DeleteDeployment": self._delete_deployment,
        }
        self._tags = TagsAndAuthorizers(self)
        responses = IntegrationResponses(self)
        self._collections = {"IntegrationResponse": responses.collection}
        self._changes.update(
            CreateIntegrationResponse=responses.create,
            UpdateIntegrationResponse=responses.update,
            DeleteIntegrationResponse=responses.delete,
        )

    def run(
        self,
        operation: Operation,
        params: dict[str, str],
        query: dict[str, str],
        body: dict[str, Any],
    ) -> tuple[int, dict[str, Any] | None]:
        """Validate, apply (on a copy, committed and saved only if everything passed), answer."""
        if operation.name in TAG_OPERATIONS:
            return self._apply(lambda: self._tags.run(operation, params, query, body))
        if operation.verb in ("Create", "Update"):
            check_body(operation.input_shape, body, create=operation.verb == "Create")
            check_tags(body.get("tags") or {})
        elif body:
            raise BadRequest(f"Invalid input: {operation.name} takes no body")
        if operation.verb == "Get":
            return operation.status, self._read(operation, params, query)
        answer = self._apply(lambda: self._changes[operation.name](params, body))
        if answer is None:
            return operation.status, None
        return operation.status, shaped(answer, operation.output_shape)

    def _apply(self, change: Callable[[], Any]) -> Any:
        """Run ``change`` on a copy of the state: committed and saved only if it passed."""
        before = self.state.apis
        self.state.apis = copy.deepcopy(before)
        try:
            answer = change()
            self.state.save()
        except BaseException:
            self.state.apis = before
            raise
        return answer

    # -- lookups -------------------------------------------------------------------------------

    def api(self, api_id: str) -> dict[str, Any]:
        record = self.state.apis.get(api_id)
        if record is None:
            raise NotFound(f"Invalid API identifier specified {api_id}")
        return record

    def item(self, record: dict[str, Any], resource: str, item_id: str) -> dict[str, Any]:
        found = record[SECTIONS[resource]].get(item_id)
        if found is None:
            raise NotFound(f"Invalid {resource} identifier specified {item_id}")
        return found

    def _route_responses(self, params: dict[str, str]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        self.item(record, "Route", params["routeId"])
        return record["routeResponses"].setdefault(params["routeId"], {})

    def _collection(self, resource: str, params: dict[str, str]) -> dict[str, Any]:
        if resource == "Api":
            return {api_id: record["api"] for api_id, record in self.state.apis.items()}
        if resource == "RouteResponse":
            return self._route_responses(params)
        if resource in self._collections:
            return self._collections[resource](params)
        return self.api(params["apiId"])[SECTIONS[resource]]

    def _read(
        self, operation: Operation, params: dict[str, str], query: dict[str, str]
    ) -> dict[str, Any]:
        collection = self._collection(operation.resource, params)
        if not operation.is_list:
            item_id = params[ID_FIELDS[operation.resource]]
            if item_id not in collection:
                raise NotFound(f"Invalid {operation.resource} identifier specified {item_id}")
            found = dict(collection[item_id])
            if operation.resource == "Api":
                found["apiEndpoint"] = self.api_endpoint()
            return shaped(found, operation.output_shape)
        items = list(collection.values())
        start, size = page_bounds(query, len(items))
        page = items[start : start + size]
        if operation.resource == "Api":
            page = [{**item, "apiEndpoint": self.api_endpoint()} for item in page]
        item_shape = list_item_shape(operation.output_shape)
        answer: dict[str, Any] = {"items": [shaped(item, item_shape) for item in page]}
        if start + size < len(items):
            answer["nextToken"] = next_token(start + size)
        return answer

    # -- APIs ----------------------------------------------------------------------------------

    def _create_api(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if body["protocolType"] != "WEBSOCKET":
            raise BadRequest("The local gateway emulates WebSocket APIs only (protocolType)")
        if not body.get("routeSelectionExpression"):
            # AWS: RouteSelectionExpression is required for WEBSOCKET APIs (CreateApi docs).
            raise BadRequest("RouteSelectionExpression is required for a WEBSOCKET API")
        check_selection_expression(body["routeSelectionExpression"])
        api_id = new_id(10)
        while api_id in self.state.apis:  # pragma: no cover - 36**10 ids
            api_id = new_id(10)
        api = {
            "apiKeySelectionExpression": "$request.header.x-api-key",
            "disableExecuteApiEndpoint": False,
            "tags": {},
            **body,
            "apiId": api_id,
            "createdDate": now(),
            "apiGatewayManaged": False,
        }
        self.state.apis[api_id] = empty_api(api)
        return {**api, "apiEndpoint": self.api_endpoint()}

    def _update_api(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        api = self.api(params["apiId"])["api"]
        if "routeSelectionExpression" in body:
            check_selection_expression(body["routeSelectionExpression"])
        api.update(body)
        return {**api, "apiEndpoint": self.api_endpoint()}

    def _delete_api(self, params: dict[str, str], body: dict[str, Any]) -> None:
        self.api(params["apiId"])
        del self.state.apis[params["apiId"]]

    # -- integrations, routes, route responses, models, stages ----------------------------------

    def _create_integration(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        check_integration(body)
        check_integration_templates(body)
        integration = {
            "connectionType": "INTERNET",
            "payloadFormatVersion": "1.0",
            "timeoutInMillis": 29000,
            **integration_defaults(body),
            **body,
            "integrationId": new_id(7),
            "apiGatewayManaged": False,
        }
        record["integrations"][integration["integrationId"]] = integration
        return integration

    def _update_integration(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        integration = self.item(self.api(params["apiId"]), "Integration", params["integrationId"])
        check_integration({**integration, **body})
        check_integration_templates({**integration, **body})
        integration.update(body)
        return integration

    def _delete_integration(self, params: dict[str, str], body: dict[str, Any]) -> None:
        record = self.api(params["apiId"])
        self.item(record, "Integration", params["integrationId"])
        target = f"integrations/{params['integrationId']}"
        users = [r["routeKey"] for r in record["routes"].values() if r.get("target") == target]
        if users:
            raise Conflict(f"Integration {params['integrationId']} is used by routes {users}")
        del record["integrations"][params["integrationId"]]

    def _check_route(self, record: dict[str, Any], route: dict[str, Any], route_id: str) -> None:
        self._unique(record["routes"], "Route", route, route_id)
        target = route.get("target")
        if target is not None:
            integration_id = target.removeprefix("integrations/")
            if (
                not target.startswith("integrations/")
                or integration_id not in (record["integrations"])
            ):
                raise BadRequest(f"Invalid target {target!r}: no such integration")
        names = {model["name"] for model in record["models"].values()}
        for model in (route.get("requestModels") or {}).values():
            if model not in names:
                raise BadRequest(f"Invalid model {model!r} in RequestModels: no such model")
        for name in route.get("requestParameters") or {}:
            # AWS: request parameters of a WebSocket route are supported on $connect only.
            if route["routeKey"] != "$connect" or not name.startswith(
                ("route.request.querystring.", "route.request.header.")
            ):
                raise BadRequest(f"Invalid request parameter {name!r} for {route['routeKey']}")

    def _unique(
        self, items: dict[str, Any], resource: str, new: dict[str, Any], own_id: str
    ) -> None:
        key = UNIQUE_KEYS[resource]
        for item_id, item in items.items():
            if item_id != own_id and item.get(key) == new.get(key):
                raise Conflict(f"{resource} with {key} {new.get(key)!r} already exists")

    def _create_route(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        route = {
            "apiKeyRequired": False,
            "authorizationType": "NONE",
            **body,
            "routeId": new_id(7),
            "apiGatewayManaged": False,
        }
        self._check_route(record, route, route["routeId"])
        record["routes"][route["routeId"]] = route
        return route

    def _update_route(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        route = self.item(record, "Route", params["routeId"])
        self._check_route(record, {**route, **body}, params["routeId"])
        route.update(body)
        return route

    def _delete_route(self, params: dict[str, str], body: dict[str, Any]) -> None:
        record = self.api(params["apiId"])
        self.item(record, "Route", params["routeId"])
        del record["routes"][params["routeId"]]
        record["routeResponses"].pop(params["routeId"], None)

    def _create_routeresponse(self, params: dict[str, str], body: dict[str, Any]) -> dict:
        responses = self._route_responses(params)
        response = {**body, "routeResponseId": new_id(6)}
        self._unique(responses, "RouteResponse", response, response["routeResponseId"])
        responses[response["routeResponseId"]] = response
        return response

    def _update_routeresponse(self, params: dict[str, str], body: dict[str, Any]) -> dict:
        responses = self._route_responses(params)
        response_id = params["routeResponseId"]
        response = responses.get(response_id)
        if response is None:
            raise NotFound(
                f"Invalid RouteResponse identifier specified {params['routeResponseId']}"
            )
        self._unique(responses, "RouteResponse", {**response, **body}, params["routeResponseId"])
        response.update(body)
        return response

    def _delete_routeresponse(self, params: dict[str, str], body: dict[str, Any]) -> None:
        responses = self._route_responses(params)
        response_id = params["routeResponseId"]
        if responses.pop(response_id, None) is None:
            raise NotFound(
                f"Invalid RouteResponse identifier specified {params['routeResponseId']}"
            )

    def _create_model(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        model = {"contentType": "application/json", **body, "modelId": new_id(6)}
        check_model(model)
        self._unique(record["models"], "Model", model, model["modelId"])
        record["models"][model["modelId"]] = model
        return model

    def _update_model(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        model = self.item(record, "Model", params["modelId"])
        check_model({**model, **body})
        self._unique(record["models"], "Model", {**model, **body}, params["modelId"])
        if body.get("name", model["name"]) != model["name"] and self._model_users(record, model):
            raise Conflict(f"Model {model['name']} is used by a route and cannot be renamed")
        model.update(body)
        return model

    def _model_users(self, record: dict[str, Any], model: dict[str, Any]) -> list[str]:
        return [
            route["routeKey"]
            for route in record["routes"].values()
            if model["name"] in (route.get("requestModels") or {}).values()
        ]

    def _delete_model(self, params: dict[str, str], body: dict[str, Any]) -> None:
        record = self.api(params["apiId"])
        model = self.item(record, "Model", params["modelId"])
        users = self._model_users(record, model)
        if users:
            raise Conflict(f"Model {model['name']} is used by routes {users}")
        del record["models"][params["modelId"]]

    def _create_stage(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        name = body["stageName"]
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise BadRequest("Stage name only allows a-zA-Z0-9_-")
        if name in record["stages"]:
            raise Conflict(f"Stage {name} already exists")
        if "deploymentId" in body:
            self.item(record, "Deployment", body["deploymentId"])
        stamp = now()
        stage = {
            "defaultRouteSettings": {"dataTraceEnabled": False, "detailedMetricsEnabled": False},
            # AWS CLI get-stage example: RouteSettings, StageVariables and Tags are present.
            "routeSettings": {},
            "stageVariables": {},
            "tags": {},
            **body,
            "createdDate": stamp,
            "lastUpdatedDate": stamp,
            "apiGatewayManaged": False,
        }
        record["stages"][name] = stage
        return stage

    def _update_stage(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        record = self.api(params["apiId"])
        stage = self.item(record, "Stage", params["stageName"])
        if "deploymentId" in body:
            self.item(record, "Deployment", body["deploymentId"])
        if body.get("stageName", stage["stageName"]) != stage["stageName"]:
            raise BadRequest("A stage cannot be renamed")
        stage.update(body, lastUpdatedDate=now())
        return stage

    def _delete_stage(self, params: dict[str, str], body: dict[str, Any]) -> None:
        record = self.api(params["apiId"])
        self.item(record, "Stage", params["stageName"])
        del record["stages"][params["stageName"]]

    # -- deployments ---------------------------------------------------------------------------

    def _create_deployment(self, params: dict[str, str], body: dict[str, Any]) -> dict:
        record = self.api(params["apiId"])
        stage_name = body.get("stageName")
        if stage_name is not None and stage_name not in record["stages"]:
            raise NotFound(f"Invalid stage identifier specified {stage_name}")
        if not record["routes"]:
            raise BadRequest("At least one route is required before deploying the Api.")
        for route in record["routes"].values():
            if not route.get("target"):
                raise BadRequest(f"Route {route['routeKey']} has no integration target")
        deployment = {
            **{k: v for k, v in body.items() if k != "stageName"},
            "deploymentId": new_id(6),
            "createdDate": now(),
            "deploymentStatus": "DEPLOYED",
            "autoDeployed": False,
        }
        record["deployments"][deployment["deploymentId"]] = deployment
        record["snapshots"][deployment["deploymentId"]] = copy.deepcopy(
            {section: record[section] for section in ("api", "integrations", "routes", "models")}
            | {"routeResponses": record["routeResponses"]}
        )
        if stage_name is not None:
            record["stages"][stage_name].update(
                deploymentId=deployment["deploymentId"], lastUpdatedDate=now()
            )
        return deployment

    def _update_deployment(self, params: dict[str, str], body: dict[str, Any]) -> dict:
        deployment = self.item(self.api(params["apiId"]), "Deployment", params["deploymentId"])
        deployment.update(body)
        return deployment

    def _delete_deployment(self, params: dict[str, str], body: dict[str, Any]) -> None:
        record = self.api(params["apiId"])
        self.item(record, "Deployment", params["deploymentId"])
        for stage in record["stages"].values():
            if stage.get("deploymentId") == params["deploymentId"]:
                raise BadRequest(
                    f"Active stages pointing to this deployment must be moved or deleted: "
                    f"{stage['stageName']}"
                )
        del record["deployments"][params["deploymentId"]]
        record["snapshots"].pop(params["deploymentId"], None)
