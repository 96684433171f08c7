"""MOCK and non-proxy HTTP integrations, built through boto3 and run by the data plane.

AWS developer guide, "Set up a WebSocket API integration response" and "Data transformations
for WebSocket APIs"; AWS CLI ``create-integration`` example (a WebSocket MOCK integration).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from tests.e2e.support import Reply, StubBackend, control_plane_client, run
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


def new_api(client: Any) -> str:
    return client.create_api(
        Name="mock", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]


def route(client: Any, api_id: str, key: str, integration_id: str, two_way: bool = True) -> None:
    extra = {"RouteResponseSelectionExpression": "$default"} if two_way else {}
    route_id = client.create_route(
        ApiId=api_id, RouteKey=key, Target=f"integrations/{integration_id}", **extra
    )["RouteId"]
    if two_way:
        client.create_route_response(ApiId=api_id, RouteId=route_id, RouteResponseKey="$default")


def deploy(client: Any, api_id: str) -> None:
    client.create_stage(ApiId=api_id, StageName="prod")
    client.create_deployment(ApiId=api_id, StageName="prod")


async def exchange(url: str, messages: list[str], wait: float = 2.0) -> list[Any]:
    answers: list[Any] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for message in messages:
            await ws.send_str(message)
            try:
                answers.append(await ws.receive_str(timeout=wait))
            except asyncio.TimeoutError:
                answers.append(None)
    return answers


async def handshake_status(url: str) -> int:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(url):
                return 101
        except aiohttp.WSServerHandshakeError as error:
            return error.status


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_the_aws_cli_mock_example_answers_as_aws_shows(gateway):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    created = client.create_integration(
        ApiId=api_id,
        PassthroughBehavior="WHEN_NO_MATCH",
        TimeoutInMillis=29000,
        ConnectionType="INTERNET",
        IntegrationType="MOCK",
    )
    # AWS CLI create-integration example output (WebSocket MOCK integration).
    assert created["IntegrationResponseSelectionExpression"] == "${integration.response.statuscode}"
    assert created["PassthroughBehavior"] == "WHEN_NO_MATCH"
    fetched = client.get_integration(ApiId=api_id, IntegrationId=created["IntegrationId"])
    assert "integrationResponses" not in json.dumps(fetched, default=str)


def test_a_mock_connect_and_a_mock_two_way_route_run_without_any_backend(gateway, backend):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    ok = client.create_integration(
        ApiId=api_id,
        IntegrationType="MOCK",
        RequestTemplates={"$default": '{"statusCode": 200}'},
    )["IntegrationId"]
    route(client, api_id, "$connect", ok, two_way=False)
    echo = client.create_integration(
        ApiId=api_id,
        IntegrationType="MOCK",
        TemplateSelectionExpression="\\$default",
        RequestTemplates={"$default": "{\"statusCode\": $input.json('$.code')}"},
    )["IntegrationId"]
    client.create_integration_response(
        ApiId=api_id,
        IntegrationId=echo,
        IntegrationResponseKey="/2\\d\\d/",
        ResponseTemplates={"$default": '{"id": "$context.routeKey", "body": "$input.body"}'},
    )
    client.create_integration_response(
        ApiId=api_id,
        IntegrationId=echo,
        IntegrationResponseKey="$default",
        ResponseTemplates={"$default": '{"failed": true}'},
    )
    route(client, api_id, "echo", echo)
    listed = client.get_integration_responses(ApiId=api_id, IntegrationId=echo)["Items"]
    assert sorted(i["IntegrationResponseKey"] for i in listed) == ["$default", "/2\\d\\d/"]
    deploy(client, api_id)
    url = gateway.api_endpoint + "/prod"
    good, bad, garbage = run(
        exchange(
            url,
            [
                '{"action": "echo", "code": 201}',
                '{"action": "echo", "code": 404}',
                '{"action": "echo", "code": "x"}',
            ],
        ),
        timeout=20,
    )
    assert json.loads(good) == {"id": "echo", "body": ""}  # MOCK: the response body is empty
    assert json.loads(bad) == {"failed": True}
    assert json.loads(garbage)["message"] == "Internal server error"  # statusCode not an int
    assert backend.events == []  # a MOCK calls nothing


def test_a_mock_connect_refuses_the_handshake_with_its_status(gateway):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    refuse = client.create_integration(
        ApiId=api_id, IntegrationType="MOCK", RequestTemplates={"$default": '{"statusCode": 403}'}
    )["IntegrationId"]
    route(client, api_id, "$connect", refuse, two_way=False)
    deploy(client, api_id)
    assert run(handshake_status(gateway.api_endpoint + "/prod")) == 403


def test_a_non_proxy_http_integration_transforms_the_request_and_the_response(gateway, backend):
    backend.respond = lambda event: Reply(status=200, body='{"n": 7}')
    client = control_plane_client(gateway)
    api_id = new_api(client)
    http = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
        TemplateSelectionExpression="${request.body.action}",
        RequestTemplates={"add": '{"wrapped": $input.body, "conn": "$context.connectionId"}'},
    )["IntegrationId"]
    client.create_integration_response(
        ApiId=api_id,
        IntegrationId=http,
        IntegrationResponseKey="/200/",
        TemplateSelectionExpression="${integration.response.statuscode}",
        ResponseTemplates={"200": "{\"result\": $input.json('$.n')}"},
    )
    route(client, api_id, "add", http)
    route(client, api_id, "$default", http)
    deploy(client, api_id)
    add, other = run(
        exchange(gateway.api_endpoint + "/prod", ['{"action": "add"}', '{"action": "zz"}']),
        timeout=20,
    )
    assert json.loads(add) == {"result": 7}
    assert json.loads(other) == {"result": 7}
    sent = [json.loads(e.body) if e.body.startswith(b'{"w') else e.body for e in backend.events]
    assert sent[0]["wrapped"] == {"action": "add"} and sent[0]["conn"]
    assert sent[1] == b'{"action": "zz"}'  # no template for "zz": WHEN_NO_MATCH passes it


HOSTILE_TEMPLATES = [
    "#set($x = 1)$x",
    "#foreach($i in [1..100000000])x#end",
    "#macro(r)#r()#end#r()",
    "## a comment",
    "#* block *#",
    "$util.escapeJavaScript($input.body)",
    "$input.path('$')",
    "$stageVariables.x",
    "$context.authorizer.principalId",
    "${context.nope}",
    "\\$input.body",
    "$!{input.body}",
    "$input.json('$..a')",
    "$input.json('$[0]')",
    "$input.json($input.body)",
    "#{set}($a = $a)",
    "#{if}(true)#end",
    "$input.params('x')",
    "$context.connectionId.class.forName('java.lang.Runtime')",
    "x" * (32 * 1024 + 1),
]


@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
def test_templates_beyond_the_subset_are_refused_at_create_and_nothing_is_kept(gateway, template):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    code, message = error_of(
        client.create_integration,
        ApiId=api_id,
        IntegrationType="MOCK",
        RequestTemplates={"$default": template},
    )
    assert code == "BadRequestException"
    assert client.get_integrations(ApiId=api_id)["Items"] == []
    good = client.create_integration(ApiId=api_id, IntegrationType="MOCK")["IntegrationId"]
    code, _ = error_of(
        client.create_integration_response,
        ApiId=api_id,
        IntegrationId=good,
        IntegrationResponseKey="$default",
        ResponseTemplates={"$default": template},
    )
    assert code == "BadRequestException"
    code, _ = error_of(
        client.update_integration,
        ApiId=api_id,
        IntegrationId=good,
        RequestTemplates={"$default": template},
    )
    assert code == "BadRequestException"
    assert client.get_integration_responses(ApiId=api_id, IntegrationId=good)["Items"] == []


def test_literal_dollars_and_hashes_velocity_prints_are_accepted(gateway):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    client.create_integration(
        ApiId=api_id,
        IntegrationType="MOCK",
        RequestTemplates={"$default": '{"statusCode": 200, "price": "$5", "color": "#fff"}'},
    )


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"IntegrationType": "AWS", "IntegrationUri": "arn:aws:lambda:x"}, "integrationType AWS"),
        ({"IntegrationType": "MOCK", "ContentHandlingStrategy": "CONVERT_TO_TEXT"}, "content"),
        (
            {"IntegrationType": "MOCK", "TemplateSelectionExpression": "$request.header.x"},
            "template selection expression",
        ),
    ],
)
def test_integrations_the_local_gateway_cannot_run_are_refused_by_name(gateway, kwargs, named):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    code, message = error_of(client.create_integration, ApiId=api_id, **kwargs)
    assert code == "BadRequestException" and named in message


@pytest.mark.parametrize("key", ["200", "/(/", "", "/"])
def test_bad_integration_response_keys_are_refused(gateway, key):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    integration = client.create_integration(ApiId=api_id, IntegrationType="MOCK")
    code, _ = error_of(
        client.create_integration_response,
        ApiId=api_id,
        IntegrationId=integration["IntegrationId"],
        IntegrationResponseKey=key,
    )
    assert code == "BadRequestException"


def test_integration_responses_crud_and_conflicts(gateway):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    integration = client.create_integration(ApiId=api_id, IntegrationType="MOCK")["IntegrationId"]
    made = client.create_integration_response(
        ApiId=api_id, IntegrationId=integration, IntegrationResponseKey="$default"
    )
    code, _ = error_of(
        client.create_integration_response,
        ApiId=api_id,
        IntegrationId=integration,
        IntegrationResponseKey="$default",
    )
    assert code == "ConflictException"
    response_id = made["IntegrationResponseId"]
    updated = client.update_integration_response(
        ApiId=api_id,
        IntegrationId=integration,
        IntegrationResponseId=response_id,
        ResponseTemplates={"$default": "{}"},
    )
    assert updated["ResponseTemplates"] == {"$default": "{}"}
    got = client.get_integration_response(
        ApiId=api_id, IntegrationId=integration, IntegrationResponseId=response_id
    )
    assert got["IntegrationResponseKey"] == "$default"
    client.delete_integration_response(
        ApiId=api_id, IntegrationId=integration, IntegrationResponseId=response_id
    )
    code, _ = error_of(
        client.get_integration_response,
        ApiId=api_id,
        IntegrationId=integration,
        IntegrationResponseId=response_id,
    )
    assert code == "NotFoundException"


def test_a_template_expanding_a_large_message_fails_the_call_and_the_gateway_answers_on(
    gateway, backend
):
    client = control_plane_client(gateway)
    api_id = new_api(client)
    bomb = "$input.body" * 2900  # under 32 KB; on a 30 KB message (one frame): 87 MB if rendered
    huge = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP",
        IntegrationUri=backend.url,
        RequestTemplates={"$default": bomb},
    )["IntegrationId"]
    small = client.create_integration(
        ApiId=api_id, IntegrationType="MOCK", RequestTemplates={"$default": '{"statusCode": 200}'}
    )["IntegrationId"]
    client.create_integration_response(
        ApiId=api_id,
        IntegrationId=small,
        IntegrationResponseKey="$default",
        ResponseTemplates={"$default": '{"alive": true}'},
    )
    route(client, api_id, "bomb", huge)
    route(client, api_id, "ping", small)
    deploy(client, api_id)
    message = json.dumps({"action": "bomb", "pad": "x" * 30_000})
    bombed, alive = run(
        exchange(gateway.api_endpoint + "/prod", [message, '{"action": "ping"}']), timeout=20
    )
    assert json.loads(bombed)["message"] == "Internal server error"
    assert json.loads(alive) == {"alive": True}
    assert backend.events == []
