"""The local gateway's apigatewayv2 control plane, through an unmodified boto3 client.

Shapes are checked against botocore's own model: every answer is parsed by botocore, and
``validate_output`` (below) fails on a member the output shape does not define.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from tests.e2e.support import control_plane_client, run, sigv4_headers
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.control_plane import StateFileError
from ws_routes.local_gateway.control_plane.service_model import output_names, service_model

RSE = "$request.body.action"


def keys(gateway: LocalGateway) -> tuple[str, str]:
    return gateway.management_credentials.first()


def client_for(gateway: LocalGateway) -> Any:
    return control_plane_client(gateway, "eu-west-2")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LocalGateway]:
    with LocalGateway(state_file=str(tmp_path / "state.json")) as local:
        yield local


@pytest.fixture
def client(gateway: LocalGateway) -> Any:
    return client_for(gateway)


def new_api(client: Any, name: str = "chat") -> str:
    return client.create_api(Name=name, ProtocolType="WEBSOCKET", RouteSelectionExpression=RSE)[
        "ApiId"
    ]


def error_of(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_a_full_websocket_api_round_trips_in_the_models_shapes(client):
    api_id = new_api(client)
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="https://www.example.com/ws/",
        RequestParameters={"integration.request.header.X-Ws-Event": "context.eventType"},
    )
    route = client.create_route(
        ApiId=api_id,
        RouteKey="ping",
        Target=f"integrations/{integration['IntegrationId']}",
        RouteResponseSelectionExpression="$default",
    )
    response = client.create_route_response(
        ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
    )
    model = client.create_model(ApiId=api_id, Name="Ping", Schema='{"type": "object"}')
    client.update_route(ApiId=api_id, RouteId=route["RouteId"], RequestModels={"$default": "Ping"})
    client.create_stage(ApiId=api_id, StageName="production", Description="first")
    deployment = client.create_deployment(ApiId=api_id, StageName="production")
    assert deployment["DeploymentStatus"] == "DEPLOYED"  # an enum value of DeploymentStatus
    stage = client.get_stage(ApiId=api_id, StageName="production")
    assert stage["DeploymentId"] == deployment["DeploymentId"]
    assert client.get_route(ApiId=api_id, RouteId=route["RouteId"])["RequestModels"] == {
        "$default": "Ping"
    }
    assert client.get_model(ApiId=api_id, ModelId=model["ModelId"])["Schema"]
    assert (
        client.get_route_response(
            ApiId=api_id, RouteId=route["RouteId"], RouteResponseId=response["RouteResponseId"]
        )["RouteResponseKey"]
        == "$default"
    )
    api = client.get_api(ApiId=api_id)
    assert api["ApiEndpoint"] == client_endpoint(client)
    for operation, kwargs in [
        ("GetApi", {"ApiId": api_id}),
        ("GetRoute", {"ApiId": api_id, "RouteId": route["RouteId"]}),
        ("GetIntegration", {"ApiId": api_id, "IntegrationId": integration["IntegrationId"]}),
        ("GetStage", {"ApiId": api_id, "StageName": "production"}),
    ]:
        raw = raw_json(client, operation, kwargs)
        shape = service_model()["operations"][operation]["output"]["shape"]
        assert set(raw) <= output_names(shape), operation


def client_endpoint(client: Any) -> str:
    return client.meta.endpoint_url.replace("http://", "ws://")


def raw_json(client: Any, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The wire JSON of one call (the members as sent, before botocore renames them)."""
    captured: dict[str, Any] = {}

    def grab(response_dict: dict[str, Any], **_: Any) -> None:
        captured["body"] = json.loads(response_dict["body"])

    client.meta.events.register(f"before-parse.apigatewayv2.{operation}", grab)
    try:
        name = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
        getattr(client, name)(**kwargs)
    finally:
        client.meta.events.unregister(f"before-parse.apigatewayv2.{operation}", grab)
    return captured["body"]


def test_pagination_with_max_results_and_next_token(client):
    api_id = new_api(client)
    integration = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="https://x.test/"
    )["IntegrationId"]
    for index in range(30):
        client.create_route(
            ApiId=api_id, RouteKey=f"r{index}", Target=f"integrations/{integration}"
        )
    first = client.get_routes(ApiId=api_id, MaxResults="7")
    assert len(first["Items"]) == 7 and first["NextToken"]
    keys = [
        item["RouteKey"]
        for page in client.get_paginator("get_routes").paginate(ApiId=api_id)
        for item in page["Items"]
    ]
    assert keys == [f"r{index}" for index in range(30)]
    token = client.get_routes(ApiId=api_id, MaxResults="25")["NextToken"]
    last = client.get_routes(ApiId=api_id, NextToken=token)
    assert len(last["Items"]) == 5 and "NextToken" not in last
    # Tokens are opaque: a bare index, an edited token, garbage are refused, not served.
    forged = [
        {"NextToken": "25"},
        {"NextToken": ("B" if token[0] == "A" else "A") + token[1:]},
        {"NextToken": "\x00" * 300},
    ]
    for bad in (
        {"MaxResults": "0"},
        {"MaxResults": "x"},
        {"NextToken": "-1"},
        {"NextToken": "99"},
        *forged,
    ):
        status, code, _ = error_of(client.get_routes, ApiId=api_id, **bad)
        assert (status, code) == (400, "BadRequestException"), bad


def test_errors_are_awss_codes_and_statuses(client):
    api_id = new_api(client)
    assert error_of(client.get_api, ApiId="nope")[:2] == (404, "NotFoundException")
    assert error_of(client.get_route, ApiId=api_id, RouteId="nope")[:2] == (
        404,
        "NotFoundException",
    )
    assert isinstance(
        pytest.raises(client.exceptions.NotFoundException, client.get_api, ApiId="nope").value,
        ClientError,
    )
    integration = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="https://x.test/"
    )["IntegrationId"]
    target = f"integrations/{integration}"
    client.create_route(ApiId=api_id, RouteKey="a", Target=target)
    assert error_of(client.create_route, ApiId=api_id, RouteKey="a", Target=target)[:2] == (
        409,
        "ConflictException",
    )
    client.create_stage(ApiId=api_id, StageName="s")
    assert error_of(client.create_stage, ApiId=api_id, StageName="s")[:2] == (
        409,
        "ConflictException",
    )
    client.create_model(ApiId=api_id, Name="M", Schema="{}")
    assert error_of(client.create_model, ApiId=api_id, Name="M", Schema="{}")[1] == (
        "ConflictException"
    )
    for call, kwargs in [
        (client.create_route, {"ApiId": api_id, "RouteKey": "b", "Target": "integrations/zz"}),
        (client.create_model, {"ApiId": api_id, "Name": "Not-Alnum", "Schema": "{}"}),
        (client.create_model, {"ApiId": api_id, "Name": "Bad", "Schema": "{not json"}),
        (client.create_api, {"Name": "h", "ProtocolType": "HTTP"}),
        (client.create_api, {"Name": "w", "ProtocolType": "WEBSOCKET"}),
        (client.create_deployment, {"ApiId": new_api(client, "empty")}),
        (client.delete_stage, {"ApiId": api_id, "StageName": "none"}),
        (
            client.create_integration,
            {"ApiId": api_id, "IntegrationType": "HTTP_PROXY", "TimeoutInMillis": 30000},
        ),
    ]:
        status, code, message = error_of(call, **kwargs)
        assert status in (400, 404) and code.endswith("Exception") and message, kwargs
    # Still referenced: refused, nothing half-deleted.
    assert error_of(client.delete_integration, ApiId=api_id, IntegrationId=integration)[1] == (
        "ConflictException"
    )
    assert len(client.get_routes(ApiId=api_id)["Items"]) == 1


async def raw_request(
    url: str, method: str, body: bytes, credentials: tuple[str, str] | None = None
) -> tuple[int, str, dict[str, Any]]:
    """A hand-made request, SigV4-signed by botocore's signer when ``credentials`` are given."""
    headers = sigv4_headers(credentials, method, url, body) if credentials else {}
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as http,
        http.request(method, url, data=body, headers=headers) as response,
    ):
        return response.status, response.headers.get("x-amzn-ErrorType", ""), await response.json()


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/v2/apis", b"{not json"),
        ("POST", "/v2/apis", b"[1, 2]"),
        ("POST", "/v2/apis", b'{"name": 5, "protocolType": "WEBSOCKET"}'),
        ("POST", "/v2/apis", b'{"name": "x", "protocolType": "SOAP"}'),
        ("POST", "/v2/apis", b'{"name": "x", "protocolType": "WEBSOCKET", "bogus": 1}'),
        ("POST", "/v2/apis", b'{"name": "' + b"x" * 200_000 + b'"}'),
        ("POST", "/v2/apis", b"[" * 100_000),
        ("POST", "/v2/apis", json.dumps({"name": "x" * 129, "protocolType": "WEBSOCKET"}).encode()),
        ("GET", "/v2/apis", b'{"unexpected": "body"}'),
    ],
)
def test_malformed_requests_get_a_400_and_change_nothing(gateway, client, method, path, body):
    before = (
        Path(gateway.config.state_file).read_text()
        if Path(gateway.config.state_file).exists()
        else ""
    )
    status, code, answer = run(
        raw_request(gateway.control_plane_endpoint + path, method, body, keys(gateway))
    )
    assert (status, code) == (400, "BadRequestException")
    assert answer["message"]
    after = (
        Path(gateway.config.state_file).read_text()
        if Path(gateway.config.state_file).exists()
        else ""
    )
    assert before == after
    assert client.get_apis()["Items"] == []


def test_unknown_paths_are_404_and_other_paths_forbidden(gateway):
    status, code, _ = run(
        raw_request(gateway.control_plane_endpoint + "/v2/nothing", "GET", b"", keys(gateway))
    )
    assert (status, code) == (404, "NotFoundException")
    status, _, answer = run(
        raw_request(gateway.control_plane_endpoint + "/nope/x", "GET", b"", keys(gateway))
    )
    assert (status, answer) == (403, {"message": "Forbidden"})


def test_state_survives_a_restart_and_a_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    with LocalGateway(state_file=str(path)) as first:
        api_id = new_api(client_for(first))
    with LocalGateway(state_file=str(path)) as second:
        assert client_for(second).get_api(ApiId=api_id)["Name"] == "chat"
    for corrupt in ("{", "[]", '{"format": "other", "apis": {}}', "\xff"):
        path.write_text(corrupt, encoding="latin-1")
        with pytest.raises(StateFileError, match="refusing to start"):
            LocalGateway(state_file=str(path))
        assert path.read_text(encoding="latin-1") == corrupt  # never overwritten
    with pytest.raises(StateFileError, match="does not exist"):
        LocalGateway(state_file=str(tmp_path / "missing-dir" / "state.json"))


def test_concurrent_clients_create_every_route_exactly_once(gateway, client):
    api_id = new_api(client)
    integration = client.create_integration(
        ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="https://x.test/"
    )["IntegrationId"]
    outcomes: list[str] = []

    def create(key: str) -> None:
        own = client_for(gateway)  # boto3 clients are not shared across threads
        try:
            own.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
            outcomes.append("created")
        except own.exceptions.ConflictException:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create, args=(f"k{i % 5}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 5 and outcomes.count("conflict") == 15
    saved = json.loads(Path(gateway.config.state_file).read_text())
    assert len(saved["apis"][api_id]["routes"]) == 5
