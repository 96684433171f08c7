"""End to end through what ``syncroutes`` deployed: sync → connect → message → reply.

The gateway starts empty (no ``target``); ``syncroutes`` reaches its control plane through
``AWS_ENDPOINT_URL_APIGATEWAYV2`` (boto3's own convention, no client injected), and the data
plane then runs only the deployed snapshot: its route responses, mappings, models and stage.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import asynccontextmanager
from io import StringIO
from typing import Any

import aiohttp
import pytest
from django.core.management import call_command

from tests.e2e.support import StubBackend, control_plane_client, run
from ws_routes.contract import CONTEXT_HEADERS, SECRET_HEADER
from ws_routes.deploy import aws as deploy_aws
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.aws_request import GATEWAY_HEADER_NAMES
from ws_routes.models import ApiGateway

pytestmark = pytest.mark.django_db(transaction=True)

STAGE = "production"
NEW_SECRET = "rotated-gateway-secret-0123456789-abcdefghijklmn"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalGateway]:
    # The library signs with the environment's pair; the gateway accepts the same pair.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    with LocalGateway() as local:
        monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", local.control_plane_endpoint)
        deploy_aws._cached_client.cache_clear()  # clients read the endpoint when created
        yield local
    deploy_aws._cached_client.cache_clear()


@pytest.fixture
def row(live_server: Any, settings: Any, gateway: LocalGateway) -> ApiGateway:
    settings.ROOT_URLCONF = "tests.e2e.deployed_urls"
    return ApiGateway.objects.create(
        api_name="e2e",
        target_base_endpoint=live_server.url + "/ws/",
        stage_name=STAGE,
        region="eu-west-2",
    )


def sync() -> str:
    out = StringIO()
    call_command("syncroutes", stdout=out)
    return out.getvalue()


def control_plane(gateway: LocalGateway) -> Any:
    return control_plane_client(gateway, "eu-west-2")


@asynccontextmanager
async def connect(url: str, **kwargs: Any) -> Any:
    async with aiohttp.ClientSession() as http, http.ws_connect(url, **kwargs) as ws:
        yield ws


async def reply_to(ws: Any, message: dict[str, Any], wait: float = 5.0) -> dict[str, Any] | None:
    """The next frame after sending ``message``, or ``None`` if none arrives within ``wait``."""
    await ws.send_str(json.dumps(message))
    try:
        return json.loads(await ws.receive_str(timeout=wait))
    except asyncio.TimeoutError:
        return None


def client_url(row: ApiGateway) -> str:
    row.refresh_from_db()
    return f"{row.api_endpoint}/{row.stage_name}"  # where AWS tells clients to connect


def test_a_deleted_route_response_stops_replies_only_once_deployed(row, gateway):
    assert "applied" in sync()
    url = client_url(row)
    assert row.api_endpoint == gateway.api_endpoint  # get_api's ApiEndpoint
    client = control_plane(gateway)
    [echo] = [r for r in client.get_routes(ApiId=row.api_id)["Items"] if r["RouteKey"] == "echo"]
    [response] = client.get_route_responses(ApiId=row.api_id, RouteId=echo["RouteId"])["Items"]

    async def scenario() -> list[Any]:
        seen = []
        async with connect(url) as ws:
            seen.append(await reply_to(ws, {"action": "echo", "n": 1}))
            await asyncio.to_thread(
                client.delete_route_response,
                ApiId=row.api_id,
                RouteId=echo["RouteId"],
                RouteResponseId=response["RouteResponseId"],
            )
            seen.append(await reply_to(ws, {"action": "echo", "n": 2}))  # not deployed yet
            await asyncio.to_thread(client.create_deployment, ApiId=row.api_id, StageName=STAGE)
            seen.append(await reply_to(ws, {"action": "echo", "n": 3}, wait=1.0))
            seen.append(await reply_to(ws, {"action": "unknown.route"}))  # $default replies
        return seen

    first, second, third, default = run(scenario(), timeout=20)
    assert first["data"]["echo"]["n"] == 1 and second["data"]["echo"]["n"] == 2
    assert third is None  # a message route without a route response sends no reply (AWS)
    assert default is not None and "error" in default

    out = sync()  # the sync notices the missing route response and puts it back
    assert "+ route response echo $default" in out

    async def again() -> Any:
        async with connect(url) as ws:
            return await reply_to(ws, {"action": "echo", "n": 4})

    assert run(again())["data"]["echo"]["n"] == 4


def test_a_route_model_refuses_a_body_with_awss_frame(row, gateway):
    sync()
    url = client_url(row)

    async def scenario() -> tuple[Any, Any]:
        async with connect(url) as ws:
            refused = await reply_to(ws, {"action": "room.join", "room": "far too long"})
            accepted = await reply_to(ws, {"action": "room.join", "room": "lobby"})
        return refused, accepted

    refused, accepted = run(scenario())
    assert refused["message"] == "Bad request body"
    assert set(refused) == {"message", "connectionId", "messageId"}
    assert accepted["data"]["joined"] == "lobby"


def test_only_the_deployed_stage_answers(row, gateway):
    sync()
    client_url(row)

    async def scenario() -> list[int]:
        statuses = []
        for path in ("/local", "/other", "", "/production/extra"):
            try:
                async with connect(gateway.api_endpoint + path):
                    statuses.append(101)
            except aiohttp.WSServerHandshakeError as error:
                statuses.append(error.status)
        return statuses

    assert run(scenario()) == [403, 403, 403, 403]


def test_a_rotated_secret_reaches_the_gateway_with_the_sync(row, gateway, settings):
    sync()
    url = client_url(row)
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [NEW_SECRET]}

    async def echo_once() -> Any:
        async with connect(url) as ws:
            return await reply_to(ws, {"action": "echo", "n": 1}, wait=2.0)

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        run(echo_once())  # the deployed integration still sends the old secret
    assert refused.value.status == 403
    assert "~ integration" in sync()
    assert run(echo_once())["data"]["echo"]["n"] == 1


def test_traffic_follows_a_new_target_with_exactly_the_mapped_headers(row, gateway):
    sync()
    url = client_url(row)
    backend = StubBackend().start()
    try:
        ApiGateway.objects.filter(pk=row.pk).update(target_base_endpoint=backend.url)
        sync()

        async def scenario() -> Any:
            headers = {"Origin": "https://app.example.com", "X-Not-Forwarded": "1"}
            async with connect(url + "?token=abc&other=1", headers=headers) as ws:
                return await reply_to(ws, {"action": "echo"})

        assert run(scenario())["route"] == "echo"
        connect_event = backend.wait_for("CONNECT")
        message = backend.wait_for("MESSAGE")
    finally:
        backend.stop()
    # The mapped headers and the ones API Gateway adds itself (aws_request.gateway_headers).
    mapped = {name.lower() for name in (SECRET_HEADER, *CONTEXT_HEADERS, *GATEWAY_HEADER_NAMES)}
    for event in (connect_event, message):
        ours = {name.lower() for name in event.headers if name.lower().startswith("x-")}
        assert ours == mapped, event.event  # nothing invented, nothing missing
        assert event.headers[SECRET_HEADER] == settings_secret()
        assert event.headers["X-Ws-Api-Id"] == row.api_id
        assert event.headers["X-Ws-Stage"] == STAGE
    # $connect to an HTTP_PROXY integration: the handshake's query string passes through, the
    # mapped parameter replacing the client's own of that name (docs/aws-fidelity.md), and the
    # handshake's Origin.
    assert connect_event.query_string == "other=1&token=abc"
    assert connect_event.headers["Origin"] == "https://app.example.com"
    assert message.query_string == "" and "Origin" not in message.headers


def settings_secret() -> str:
    from django.conf import settings

    return str(settings.WS_ROUTES["GATEWAY_SECRETS"][0])


def test_a_gateway_route_with_its_own_url_goes_there_and_nowhere_else(row, gateway):
    from ws_routes.models import GatewayRoute

    backend = StubBackend().start()
    try:
        GatewayRoute.objects.create(
            api_gateway=row, route_key="side.channel", integration_url=backend.url
        )
        assert "+ integration route:side.channel" in sync()
        url = client_url(row)

        async def scenario() -> tuple[Any, Any]:
            async with connect(url) as ws:
                side = await reply_to(ws, {"action": "side.channel", "n": 1})
                echo = await reply_to(ws, {"action": "echo", "n": 2})
            return side, echo

        side, echo = run(scenario())
        [message] = backend.of("MESSAGE")
    finally:
        backend.stop()
    assert side["route"] == "side.channel"  # the stub backend's answer
    assert echo["data"]["echo"]["n"] == 2  # the router still answers its own routes
    assert message.headers["X-Ws-Route"] == "side.channel"
    assert backend.of("CONNECT") == []  # $connect stays on the router's integration
