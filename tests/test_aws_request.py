"""What API Gateway itself adds to an integration request (issue 25 items 1 and 2).

Every header AWS adds (X-Forwarded-*, X-Amzn-Trace-Id, X-Amzn-Apigateway-Api-Id, on $connect
the handshake's Sec-WebSocket-*), every documented ``$context`` variable as a mapping source,
the refusal of an unknown one at create/update-integration, and hostile values never sent.
docs/aws-fidelity.md cites the source of each.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import botocore.exceptions
import pytest
from multidict import CIMultiDict

from tests.e2e.support import StubBackend, control_plane_client, run
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.aws_request import (
    CONTEXT_VARIABLES,
    MAX_HEADER_VALUE_BYTES,
    context_value,
    gateway_headers,
    is_context_variable,
    passthrough_query,
    safe_header_value,
)
from ws_routes.local_gateway.deployed import DeployedStage
from ws_routes.local_gateway.integration import EventContext

SECRET = "s" * 40
TRACE_ID = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")
REQUEST_TIME = re.compile(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000")
#: Mapped into headers, one per variable (X-C-<name with dots as dashes>).
MAPPED = (
    "connectionId",
    "connectedAt",
    "domainName",
    "eventType",
    "messageId",
    "routeKey",
    "requestId",
    "extendedRequestId",
    "apiId",
    "identity.sourceIp",
    "identity.userAgent",
    "requestTime",
    "requestTimeEpoch",
    "stage",
    "messageDirection",
    "disconnectStatusCode",
    "disconnectReason",
    "identity.accountId",  # documented, no value locally: nothing sent
)


def header_of(name: str) -> str:
    return "X-C-" + name.replace(".", "-")


@pytest.fixture
def backend() -> Iterator[StubBackend]:
    stub = StubBackend().start()
    yield stub
    stub.stop()


@pytest.fixture
def gateway(backend: StubBackend) -> Iterator[LocalGateway]:
    with LocalGateway(backend.url, secret=SECRET, stage="local") as local:
        yield local


def deploy(gateway: LocalGateway, backend: StubBackend) -> str:
    client = control_plane_client(gateway)
    api_id = client.create_api(
        Name="ctx", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
        RequestParameters={
            # What StubBackend files events by, then one header per variable.
            "integration.request.header.X-Ws-Event": "context.eventType",
            "integration.request.header.X-Ws-Route": "context.routeKey",
            **{f"integration.request.header.{header_of(n)}": f"context.{n}" for n in MAPPED},
        },
    )["IntegrationId"]
    for key in ("$connect", "$disconnect", "$default"):
        client.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    client.create_stage(ApiId=api_id, StageName="prod")
    client.create_deployment(ApiId=api_id, StageName="prod")
    return api_id


def test_every_event_carries_awss_headers_and_every_context_variable(gateway, backend):
    api_id = deploy(gateway, backend)
    started_ms = int(time.time() * 1000)

    async def scenario() -> None:
        headers = {"User-Agent": "Mozilla/5.0 test-browser", "Origin": "http://127.0.0.1:1"}
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(gateway.api_endpoint + "/prod", headers=headers, compress=15) as ws,
        ):
            await ws.send_str('{"action": "hello"}')
            await asyncio.sleep(0.3)
            await ws.close(code=4000, message=b"bye now")

    run(scenario())
    connect = backend.wait_for("CONNECT")
    message = backend.wait_for("MESSAGE")
    disconnect = backend.wait_for("DISCONNECT")
    port = str(gateway.port)
    for event in (connect, message, disconnect):
        h = CIMultiDict(event.headers)
        assert h["X-Forwarded-For"] == "127.0.0.1" == h["X-Real-Ip"], event.event
        assert h["X-Forwarded-Proto"] == "http" and h["X-Forwarded-Port"] == port
        assert TRACE_ID.fullmatch(h["X-Amzn-Trace-Id"])
        assert h["X-Amzn-Apigateway-Api-Id"] == api_id
        assert h["User-Agent"] == "Mozilla/5.0 test-browser"  # the client's, never aiohttp's
        assert h["Host"] == f"127.0.0.1:{backend.port}"  # the integration endpoint's
        assert h["X-C-connectionId"] == connect.headers["X-C-connectionId"]
        assert h["X-C-eventType"] == event.event
        assert h["X-C-apiId"] == api_id and h["X-C-stage"] == "prod"
        assert h["X-C-domainName"] == "127.0.0.1"
        assert h["X-C-requestId"] == h["X-C-extendedRequestId"]
        assert h["X-C-identity-sourceIp"] == "127.0.0.1"
        assert h["X-C-identity-userAgent"] == "Mozilla/5.0 test-browser"
        assert h["X-C-messageDirection"] == "IN"
        assert REQUEST_TIME.fullmatch(h["X-C-requestTime"])
        assert started_ms <= int(h["X-C-connectedAt"]) <= int(h["X-C-requestTimeEpoch"])
        assert h["X-C-connectedAt"] == connect.headers["X-C-connectedAt"]
        assert "X-C-identity-accountId" not in h  # no IAM caller locally: no value, no header
    assert connect.headers["X-C-routeKey"] == "$connect"
    assert message.headers["X-C-routeKey"] == "$default"
    # messageId only on MESSAGE; the close code and reason only on DISCONNECT.
    assert message.headers["X-C-messageId"] == message.headers["X-C-requestId"]
    assert "X-C-messageId" not in connect.headers and "X-C-messageId" not in disconnect.headers
    assert disconnect.headers["X-C-disconnectStatusCode"] == "4000"
    assert disconnect.headers["X-C-disconnectReason"] == "bye now"
    assert "X-C-disconnectStatusCode" not in message.headers
    # The handshake's own headers reach $connect only.
    h = CIMultiDict(connect.headers)
    assert re.fullmatch(r"[A-Za-z0-9+/]{22}==", h["Sec-WebSocket-Key"])
    assert h["Sec-WebSocket-Version"] == "13"
    assert h["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert h["Origin"] == "http://127.0.0.1:1"
    for event in (message, disconnect):
        assert not {"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin"} & set(event.headers)
    # Each call its own trace id.
    ids = {CIMultiDict(e.headers)["X-Amzn-Trace-Id"] for e in (connect, message, disconnect)}
    assert len(ids) == 3


def test_the_quick_start_configuration_sends_awss_headers_too(gateway, backend):
    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(gateway.url, headers={"User-Agent": "agent/1"}) as ws,
        ):
            await ws.send_str('{"action": "ping"}')
            await ws.receive_str(timeout=5)

    run(scenario())
    for kind in ("CONNECT", "MESSAGE"):
        h = CIMultiDict(backend.wait_for(kind).headers)
        assert h["X-Amzn-Apigateway-Api-Id"] == h["X-Ws-Api-Id"]
        assert h["X-Forwarded-For"] == "127.0.0.1" and h["X-Forwarded-Port"] == str(gateway.port)
        assert TRACE_ID.fullmatch(h["X-Amzn-Trace-Id"]) and h["User-Agent"] == "agent/1"
    assert "Sec-WebSocket-Key" in backend.wait_for("CONNECT").headers


def integration_error(call: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException"
    return str(error["Message"])


@pytest.mark.parametrize(
    "source",
    [
        "context.nope",
        "context.identity.nope",
        "context.",
        "context.authorizer.",
        "context.authorizer.a.b",
        "context.connectionId.extra",
        "context.ConnectionId",  # names are case-sensitive
        "context." + "x" * 5000,
        "context.error\r\nX-Evil: 1",
    ],
)
def test_a_mapping_from_an_unknown_context_variable_is_refused(gateway, backend, source):
    client = control_plane_client(gateway)
    api_id = client.create_api(
        Name="bad", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]

    def create() -> Any:
        return client.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP_PROXY",
            IntegrationMethod="POST",
            IntegrationUri=backend.url,
            RequestParameters={"integration.request.header.X-A": source},
        )

    message = integration_error(create)
    if len(source) <= 512:  # longer: refused by the member's length limit first
        assert "Invalid mapping expression specified" in message
        assert repr(source)[:40] in message and len(message) < 600
    assert client.get_integrations(ApiId=api_id)["Items"] == []  # nothing created
    good = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
        RequestParameters={"integration.request.header.X-A": "context.messageId"},
    )["IntegrationId"]

    def update() -> Any:
        return client.update_integration(
            ApiId=api_id,
            IntegrationId=good,
            RequestParameters={"integration.request.header.X-A": source},
        )

    message = integration_error(update)
    assert len(source) > 512 or repr(source)[:40] in message
    stored = client.get_integration(ApiId=api_id, IntegrationId=good)["RequestParameters"]
    assert stored == {"integration.request.header.X-A": "context.messageId"}  # unchanged


def test_every_documented_variable_is_accepted(gateway, backend):
    client = control_plane_client(gateway)
    api_id = client.create_api(
        Name="all", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    names = [*sorted(CONTEXT_VARIABLES), "authorizer.tenant", "authorizer.user_id"]
    params = {f"integration.request.header.X-{i}": f"context.{n}" for i, n in enumerate(names)}
    created = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
        RequestParameters=params,
    )
    assert created["RequestParameters"] == params


def context(**overrides: Any) -> EventContext:
    fields: dict[str, Any] = {
        "event": "CONNECT",
        "route": "$connect",
        "connection_id": "abc=",
        "source_ip": "10.0.0.1",
        "request_id": "rid=",
        "user_agent": "ua",
        "connected_at_ms": 1_700_000_000_000,
    }
    fields.update(overrides)
    return EventContext(**fields)


@pytest.mark.parametrize(
    "hostile",
    [
        "evil\r\nX-Injected: 1",
        "evil\nX-Injected: 1",
        "evil\rX-Injected: 1",
        "nul\x00byte",
        "bell\x07",
        "x" * (MAX_HEADER_VALUE_BYTES + 1),
    ],
)
def test_hostile_values_never_reach_the_backend(hostile):
    assert safe_header_value(hostile) is None
    handshake = {
        "User-Agent": hostile,
        "Sec-WebSocket-Extensions": hostile,
        "Origin": hostile,
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    headers = gateway_headers(
        context(user_agent=None), api_id="api", forwarded_port=1, handshake=handshake
    )
    assert "User-Agent" not in headers and "Sec-WebSocket-Extensions" not in headers
    assert "Origin" not in headers and "X-Injected" not in headers
    assert headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    headers = gateway_headers(
        context(event="MESSAGE", user_agent=hostile), api_id="api", forwarded_port=1
    )
    assert "User-Agent" not in headers
    assert all("\n" not in value and "\r" not in value for value in headers.values())
    assert safe_header_value("tab\tis fine") == "tab\tis fine"
    assert safe_header_value("x" * MAX_HEADER_VALUE_BYTES) is not None


class CapturingIntegration:
    """Stands in for :class:`Integration`: records what :meth:`DeployedStage.call` posts."""

    forwarded_port = 8001

    def __init__(self) -> None:
        self.posted: list[tuple[str, CIMultiDict[str]]] = []

    def aws_headers(self, context: Any, api_id: str, handshake: Any = None) -> CIMultiDict[str]:
        return gateway_headers(context, api_id=api_id, forwarded_port=8001, handshake=handshake)

    async def post(self, context: Any, url: str, headers: Any, body: bytes, timeout: Any) -> str:
        self.posted.append((url, headers))
        return "posted"


def test_a_mapped_hostile_or_oversized_value_is_dropped_and_others_still_sent():
    snapshot = {
        "api": {"routeSelectionExpression": "$request.body.action"},
        "routes": {"r": {"routeId": "r", "routeKey": "$connect", "target": "integrations/i"}},
        "integrations": {
            "i": {
                "integrationType": "HTTP_PROXY",
                "integrationUri": "http://127.0.0.1:9/ws/",
                "requestParameters": {
                    "integration.request.header.X-Agent": "route.request.header.X-Agent",
                    "integration.request.header.X-Big": "route.request.header.X-Big",
                    "integration.request.header.X-Ua": "context.identity.userAgent",
                    "integration.request.querystring.agent": "route.request.header.X-Agent",
                    "integration.request.header.X-Ok": "'fine'",
                },
            }
        },
        "models": {},
        "routeResponses": {},
    }
    stage = DeployedStage("api1", "prod", snapshot)
    fake = CapturingIntegration()
    handshake = {"X-Agent": "a\r\nX-Injected: 1", "X-Big": "b" * (MAX_HEADER_VALUE_BYTES + 1)}
    run(
        stage.call(
            fake,  # type: ignore[arg-type]
            context(user_agent="u\nX-Injected: 2"),
            handshake_headers=handshake,
        )
    )
    [(url, headers)] = fake.posted
    assert headers["X-Ok"] == "fine" and headers["X-Amzn-Apigateway-Api-Id"] == "api1"
    assert not {"X-Agent", "X-Big", "X-Ua", "X-Injected", "User-Agent"} & set(headers)
    # A query string value is URL-encoded, so CR/LF there cannot split anything.
    assert url == "http://127.0.0.1:9/ws/?agent=a%0D%0AX-Injected%3A+1"


def test_context_values_per_event():
    connect = context()
    values = {
        name: context_value(
            name, connect, api_id="a", stage="s", domain_name="d", now_ms=1_700_000_000_500
        )
        for name in CONTEXT_VARIABLES
    }
    assert values["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert values["requestTimeEpoch"] == "1700000000500"
    assert values["connectedAt"] == "1700000000000"
    assert values["messageId"] is None and values["disconnectStatusCode"] is None
    assert values["status"] is None and values["identity.apiKey"] is None
    gone = context(event="DISCONNECT", route="$disconnect", disconnect=(1006, ""))
    kwargs: dict[str, Any] = {"api_id": "a", "stage": "s", "domain_name": "d", "now_ms": 1}
    assert context_value("disconnectStatusCode", gone, **kwargs) == "1006"
    assert context_value("disconnectReason", gone, **kwargs) == ""
    assert context_value("nope", gone, **kwargs) is None
    assert is_context_variable("authorizer.principalId") and is_context_variable("authorizer.x")
    assert not is_context_variable("authorizer.") and not is_context_variable("identity")


def test_the_connect_query_string_passes_through_with_mapped_parameters_replacing():
    mapped = [("token", "from-mapping")]
    assert passthrough_query("token=client&channel=a%20b&flag", mapped) == [
        ("channel", "a b"),
        ("flag", ""),
        ("token", "from-mapping"),
    ]
    assert passthrough_query("", []) == []
    snapshot = {
        "api": {},
        "routes": {"r": {"routeId": "r", "routeKey": "$connect", "target": "integrations/i"}},
        "integrations": {
            "i": {"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/ws/"}
        },
        "models": {},
        "routeResponses": {},
    }
    fake = CapturingIntegration()
    run(DeployedStage("a", "s", snapshot).call(fake, context(), query_string="ws_token=t&x=1"))  # type: ignore[arg-type]
    assert fake.posted[0][0] == "http://127.0.0.1:9/ws/?ws_token=t&x=1"
    message = context(event="MESSAGE", route="$connect")  # no handshake query on a message
    run(DeployedStage("a", "s", snapshot).call(fake, message, query_string="ws_token=t"))  # type: ignore[arg-type]
    assert fake.posted[1][0] == "http://127.0.0.1:9/ws/"
