"""The sender through botocore (``Boto3Transport``) under moto, with injected clients, and the
fast path (``HttpTransport``) against moto's real HTTP server."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from tests.test_sending import _configure, aws_environment, lobby, make_sessions  # noqa: F401
from ws_routes.models import WebSocketSession
from ws_routes.sending import Boto3Transport, disconnect_sessions, send_to_sessions

pytestmark = pytest.mark.django_db


def moto_connections(region="eu-west-2"):
    return apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][region].connections


@pytest.fixture
def fast_retries(settings):
    _configure(
        settings, MANAGEMENT_ENDPOINT=None, SEND_BACKOFF_BASE_SECONDS=0.001, SEND_MAX_RETRIES=2
    )


def test_boto3_transport_under_mock_aws(settings, fast_retries):
    with mock_aws():
        _configure(settings, SEND_TRANSPORT=Boto3Transport())
        make_sessions("L0SM9cOFvHcCIhw=", "second")
        result = lobby().send({"text": "hé"})
        assert (result.delivered, result.failed) == (2, 0)
        connections = moto_connections()
        # moto keys connections by the id as it appears, URL-encoded, in the path
        assert connections["L0SM9cOFvHcCIhw%3D"].data == '{"text":"hé"}'.encode()
        assert connections["second"].data == '{"text":"hé"}'.encode()

        assert disconnect_sessions(lobby()) == 2
        assert "second" not in connections
        assert not WebSocketSession.objects.filter(connected=True).exists()


class ScriptedClient:
    """A stand-in for an ``apigatewaymanagementapi`` client, failing by connection id."""

    def __init__(self, endpoint_url):
        self.endpoint_url = endpoint_url
        self.calls = []
        self.lock = threading.Lock()

    @staticmethod
    def error(code, status):
        return ClientError(
            {
                "Error": {"Code": code, "Message": code},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "PostToConnection",
        )

    def post_to_connection(self, ConnectionId, Data):  # noqa: N803 - botocore's names
        with self.lock:
            self.calls.append(("post", ConnectionId, Data))
            attempt = sum(1 for c in self.calls if c[1] == ConnectionId)
        if ConnectionId.startswith("gone"):
            raise self.error("GoneException", 410)
        if ConnectionId.startswith("throttle") and attempt == 1:
            raise self.error("LimitExceededException", 429)
        if ConnectionId.startswith("error"):
            raise self.error("InternalServerErrorException", 500)
        if ConnectionId.startswith("denied"):
            raise self.error("ForbiddenException", 403)
        if ConnectionId.startswith("timeout"):
            raise ReadTimeoutError(endpoint_url=self.endpoint_url)
        if ConnectionId.startswith("unreachable"):
            raise EndpointConnectionError(endpoint_url=self.endpoint_url)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def delete_connection(self, ConnectionId):  # noqa: N803
        with self.lock:
            self.calls.append(("delete", ConnectionId, None))
        if ConnectionId.startswith("gone"):
            raise self.error("GoneException", 410)
        return {"ResponseMetadata": {"HTTPStatusCode": 204}}


def test_injected_clients_errors_are_mapped_and_accounted(fast_retries):
    clients = {}

    def factory(endpoint_url, region):
        clients[endpoint_url] = ScriptedClient(endpoint_url)
        return clients[endpoint_url]

    transport = Boto3Transport(client_factory=factory, max_workers=4)
    ids = ["ok", "gone-1", "throttle-1", "error-1", "denied-1", "timeout-1", "unreachable-1"]
    make_sessions(*ids)

    result = send_to_sessions(lobby(), {"n": 1}, transport=transport)

    assert (result.delivered, result.gone, result.failed) == (2, 1, 4)
    assert sorted(result.failed_ids) == ["denied-1", "error-1", "timeout-1", "unreachable-1"]
    (client,) = clients.values()
    attempts = {i: sum(1 for c in client.calls if c[1] == i) for i in ids}
    assert attempts == {
        "ok": 1,
        "gone-1": 1,
        "throttle-1": 2,
        "error-1": 3,
        "denied-1": 1,
        "timeout-1": 3,
        "unreachable-1": 3,
    }
    assert set(
        WebSocketSession.objects.filter(connected=False).values_list("connection_id", flat=True)
    ) == {"gone-1"}


def test_clients_are_cached_per_endpoint(fast_retries):
    built = []

    def factory(endpoint_url, region):
        built.append((endpoint_url, region))
        return ScriptedClient(endpoint_url)

    transport = Boto3Transport(client_factory=factory)
    make_sessions("a1", "a2", api_id="abc123", stage="prod")
    make_sessions("b1", api_id="abc123", stage="dev")
    for _ in range(3):
        assert send_to_sessions(lobby(), {}, transport=transport).delivered == 3
    assert sorted(built) == [
        ("https://abc123.execute-api.eu-west-2.amazonaws.com/dev", "eu-west-2"),
        ("https://abc123.execute-api.eu-west-2.amazonaws.com/prod", "eu-west-2"),
    ]


def test_boto3_transport_disconnect_counts_gone_as_closed(fast_retries):
    transport = Boto3Transport(client_factory=lambda url, region: ScriptedClient(url))
    sessions = make_sessions("ok", "gone-1")
    assert disconnect_sessions(sessions, transport=transport) == 2
    assert [s.connected for s in sessions] == [False, False]


@pytest.fixture
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_fast_path_is_accepted_by_moto_server(settings, moto_server):
    host, port = moto_server.get_host_and_port()
    _configure(settings, MANAGEMENT_ENDPOINT=f"http://{host}:{port}")
    make_sessions("L0SM9cOFvHcCIhw=", "plain")
    result = lobby().send({"text": "über"})
    assert result.delivered == 2
    connections = moto_connections()
    assert connections["L0SM9cOFvHcCIhw%3D"].data == '{"text":"über"}'.encode()
    assert disconnect_sessions(lobby()) == 2
    assert "plain" not in connections
