"""The data plane running an API built by hand through boto3 (no Django, a stub backend).

Covers what ``syncroutes`` never creates but AWS defines: no ``$default`` route (the Forbidden
frame), no ``$connect`` / ``$disconnect`` route, mappings to a query string, a model chosen by
key, a second stage, a deployment replacing the quick-start configuration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.support import StubBackend, control_plane_client, run
from ws_routes.local_gateway import LocalGateway

SECRET = "s" * 40


@pytest.fixture
def backend() -> Iterator[StubBackend]:
    stub = StubBackend().start()
    yield stub
    stub.stop()


@pytest.fixture
def gateway(backend: StubBackend) -> Iterator[LocalGateway]:
    with LocalGateway(backend.url, secret=SECRET, stage="local") as local:
        yield local


def client_for(gateway: LocalGateway) -> Any:
    return control_plane_client(gateway)


def build_api(gateway: LocalGateway, backend: StubBackend, routes: dict[str, bool]) -> str:
    """An API whose routes (key -> two-way?) all go to ``backend``; deployed to ``prod``."""
    client = client_for(gateway)
    api_id = client.create_api(
        Name="hand", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.kind"
    )["ApiId"]
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
        RequestParameters={
            "integration.request.header.X-Ws-Event": "context.eventType",
            "integration.request.header.X-Ws-Route": "context.routeKey",
            "integration.request.header.X-Ws-Connection-Id": "context.connectionId",
            "integration.request.querystring.api": "context.apiId",
            "integration.request.header.X-Static": "'fixed value'",
        },
    )["IntegrationId"]
    for key, two_way in routes.items():
        extra = {"RouteResponseSelectionExpression": "$default"} if two_way else {}
        route = client.create_route(
            ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}", **extra
        )
        if two_way:
            client.create_route_response(
                ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
            )
    client.create_stage(ApiId=api_id, StageName="prod")
    client.create_deployment(ApiId=api_id, StageName="prod")
    return api_id


async def exchange(url: str, messages: list[str], wait: float = 2.0) -> list[Any]:
    answers: list[Any] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for message in messages:
            await ws.send_str(message)
            try:
                answers.append(json.loads(await ws.receive_str(timeout=wait)))
            except asyncio.TimeoutError:
                answers.append(None)
    return answers


def test_without_a_default_route_an_unknown_action_gets_the_forbidden_frame(gateway, backend):
    api_id = build_api(gateway, backend, {"say": True})
    url = gateway.api_endpoint + "/prod"
    said, other, garbage = run(
        exchange(url, ['{"kind": "say"}', '{"kind": "other"}', "not json"]), timeout=15
    )
    assert said["route"] == "say"
    for frame in (other, garbage):
        assert frame["message"] == "Forbidden" and set(frame) == {
            "message",
            "connectionId",
            "requestId",
        }
    assert [e.route for e in backend.of("MESSAGE")] == ["say"]
    # No $connect and no $disconnect route: the socket opened without any call, and closed
    # without one (AWS calls only the routes the API has).
    time.sleep(0.2)
    assert backend.of("CONNECT") == [] and backend.of("DISCONNECT") == []
    message = backend.of("MESSAGE")[0]
    assert message.headers["X-Static"] == "fixed value"
    assert message.query_string == f"api={api_id}"
    assert "X-Ws-Secret" not in message.headers  # not mapped: not invented


def test_a_one_way_route_sends_nothing_back(gateway, backend):
    build_api(gateway, backend, {"$default": True, "fire": False})
    url = gateway.api_endpoint + "/prod"
    fire, default = run(exchange(url, ['{"kind": "fire"}', '{"kind": "x"}'], wait=1.0))
    assert fire is None and default["route"] == "$default"
    assert [e.route for e in backend.of("MESSAGE")] == ["fire", "$default"]


def test_a_deployment_replaces_the_quick_start_stage_and_other_stages_stay_forbidden(
    gateway, backend
):
    (before,) = run(exchange(gateway.url, ['{"action": "ping"}']))
    assert before["route"] == "ping"  # the quick-start configuration of stage "local"
    client = client_for(gateway)
    api_id = build_api(gateway, backend, {"$default": False})
    client.create_stage(ApiId=api_id, StageName="local")
    (after,) = run(exchange(gateway.url, ['{"action": "ping"}']))
    assert after["route"] == "ping"  # a stage without a deployment changes nothing
    client.create_deployment(ApiId=api_id, StageName="local")
    (deployed,) = run(exchange(gateway.url, ['{"action": "ping"}'], wait=1.0))
    assert deployed is None  # now the deployed one-way $default answers

    async def status(path: str) -> int:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(gateway.api_endpoint + path),
            ):
                return 101
        except aiohttp.WSServerHandshakeError as error:
            return error.status

    assert run(status("/dev")) == 403


def test_a_model_chosen_by_key_and_a_missing_model_without_default(gateway, backend):
    client = client_for(gateway)
    api_id = build_api(gateway, backend, {"$default": True})
    client.create_model(ApiId=api_id, Name="Strict", Schema='{"type": "object", "required": ["n"]}')
    [route] = client.get_routes(ApiId=api_id)["Items"]
    client.update_route(
        ApiId=api_id,
        RouteId=route["RouteId"],
        ModelSelectionExpression="$request.body.kind",
        RequestModels={"strict": "Strict"},
    )
    client.create_deployment(ApiId=api_id, StageName="prod")
    url = gateway.api_endpoint + "/prod"
    refused, accepted, unmodelled = run(
        exchange(url, ['{"kind": "strict"}', '{"kind": "strict", "n": 1}', '{"kind": "free"}'])
    )
    assert refused["message"] == "Bad request body"
    assert accepted["route"] == "$default"
    # AWS: no matching model and no $default model: validation fails.
    assert unmodelled["message"] == "Bad request body"
    assert len(backend.of("MESSAGE")) == 1
