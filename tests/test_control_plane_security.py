"""Issue 19 items 5 and 6: the local control plane is reachable only by holders of its key.

Before, it answered unsigned requests whatever the ``Host`` (DNS rebinding) and took
cross-site ``text/plain`` POSTs, so any page the developer visited could read the
integrations (with the gateway secret) and point them at its own server; and the example
project put a well-known ``local``/``local`` pair in the environment.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import botocore.exceptions
import pytest

from tests.e2e.support import control_plane_client, run, sigv4_headers
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.request_guard import host_is_ours

KEYS = {"AKIDLOCAL": "local-secret"}
ROOT = Path(__file__).resolve().parent.parent
API = json.dumps(
    {
        "name": "evil",
        "protocolType": "WEBSOCKET",
        "routeSelectionExpression": "$request.body.action",
    }
).encode()


@pytest.fixture
def gateway(tmp_path):
    with LocalGateway(state_file=str(tmp_path / "state.json"), management_credentials=KEYS) as g:
        yield g


async def request(url, method="GET", body=b"", headers=None):
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as http,
        http.request(method, url, data=body, headers=headers or {}) as response,
    ):
        return response.status, response.headers.get("x-amzn-ErrorType", ""), await response.read()


def api_count(gateway) -> int:
    return len(gateway.server.control_plane.state.apis)


def test_unsigned_requests_are_refused_and_read_or_change_nothing(gateway):
    client = control_plane_client(gateway)
    client.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    url = gateway.control_plane_endpoint + "/v2/apis"
    status, code, body = run(request(url))
    assert (status, code) == (403, "MissingAuthenticationTokenException")
    assert b"chat" not in body
    status, code, _ = run(request(url, "POST", API, {"Content-Type": "text/plain"}))
    assert status == 403 and api_count(gateway) == 1


def test_a_request_signed_with_another_key_or_secret_is_refused(gateway):
    url = gateway.control_plane_endpoint + "/v2/apis"
    for pair in (("AKIDLOCAL", "guessed"), ("AKIDOTHER", "local-secret"), ("local", "local")):
        status, code, _ = run(request(url, "POST", API, sigv4_headers(pair, "POST", url, API)))
        assert status == 403, pair
        assert code in ("InvalidSignatureException", "UnrecognizedClientException")
    assert api_count(gateway) == 0


def test_boto3_with_the_wrong_credentials_gets_a_client_error(gateway):
    import boto3

    wrong = boto3.client(
        "apigatewayv2",
        endpoint_url=gateway.control_plane_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    with pytest.raises(botocore.exceptions.ClientError, match="UnrecognizedClient"):
        wrong.get_apis()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "rebind.attacker.test:{port}",
        "127.0.0.1:1",
        "localhost",
        "",
        "127.0.0.1:{port}.evil",
    ],
)
def test_a_foreign_host_is_refused_even_when_signed_for_it(gateway, host):
    """DNS rebinding: the page's name resolves to 127.0.0.1, its Host stays the page's."""
    host = host.format(port=gateway.port)
    url = gateway.control_plane_endpoint + "/v2/apis"
    signed_url = f"http://{host}/v2/apis" if host and ".evil" not in host else url
    headers = sigv4_headers(next(iter(KEYS.items())), "GET", signed_url, b"")
    headers["Host"] = host
    status, code, body = run(request(url, headers=headers))
    assert (status, code) == (403, "ForbiddenException"), body


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Dest": "empty"},
    ],
)
def test_browser_requests_are_refused_even_when_signed(gateway, browser):
    url = gateway.control_plane_endpoint + "/v2/apis"
    headers = {
        **sigv4_headers(next(iter(KEYS.items())), "POST", url, API),
        **browser,
        "Content-Type": "text/plain",
    }
    status, code, _ = run(request(url, "POST", API, headers))
    assert (status, code) == (403, "ForbiddenException")
    assert api_count(gateway) == 0


def test_browser_headers_without_origin_are_refused_on_connections_too(gateway):
    url = f"{gateway.management_endpoint}/@connections/abc="
    headers = {
        **sigv4_headers(next(iter(KEYS.items())), "POST", url, b"x", "execute-api"),
        "Sec-Fetch-Site": "cross-site",
    }
    status, code, _ = run(request(url, "POST", b"x", headers))
    assert (status, code) == (403, "ForbiddenException")


def test_the_signed_client_still_works_and_reads_back_the_request_parameters(gateway):
    """AWS returns request parameters as configured: only signed callers ever see them."""
    client = control_plane_client(gateway)
    api = client.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    integration = client.create_integration(
        ApiId=api["ApiId"],
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="http://127.0.0.1:9/ws/",
        RequestParameters={"integration.request.header.X-Ws-Secret": "'s3cret'"},
    )
    got = client.get_integration(ApiId=api["ApiId"], IntegrationId=integration["IntegrationId"])
    assert got["RequestParameters"] == {"integration.request.header.X-Ws-Secret": "'s3cret'"}


def test_the_state_file_holding_the_secret_is_readable_by_its_owner_only(gateway):
    control_plane_client(gateway).create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    mode = stat.S_IMODE(os.stat(gateway.config.state_file).st_mode)
    assert mode == 0o600, oct(mode)


@pytest.mark.parametrize(
    "listen,host,port,ok",
    [
        ("127.0.0.1", "127.0.0.1:8001", 8001, True),
        ("127.0.0.1", "localhost:8001", 8001, True),
        ("127.0.0.1", "LOCALHOST:8001", 8001, True),
        ("127.0.0.1", "[::1]:8001", 8001, True),
        ("127.0.0.1", "127.0.0.1:8002", 8001, False),
        ("127.0.0.1", "127.0.0.1", 8001, False),
        ("127.0.0.1", "10.0.0.5:8001", 8001, False),
        ("127.0.0.1", "evil.example:8001", 8001, False),
        ("0.0.0.0", "10.0.0.5:8001", 8001, True),
        ("0.0.0.0", "evil.example:8001", 8001, False),
        ("10.0.0.5", "10.0.0.5:8001", 8001, True),
        ("10.0.0.5", "localhost:8001", 8001, False),
        ("127.0.0.1", "127.0.0.1:+8001", 8001, False),
        ("127.0.0.1", ":8001", 8001, False),
    ],
)
def test_host_is_ours(listen, host, port, ok):
    assert host_is_ours(host, listen, port) is ok


def test_the_example_settings_put_no_credentials_in_the_environment():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    code = (
        "import os, example_project.settings; "
        "print(os.environ.get('AWS_ACCESS_KEY_ID'), os.environ.get('AWS_SECRET_ACCESS_KEY'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


def test_the_control_plane_endpoint_host_is_the_listen_address(gateway):
    assert urlsplit(gateway.control_plane_endpoint).hostname == "127.0.0.1"


# -- item 7: a model's $ref never fetches, reads a file or stops the gateway ----------------------


class Listener:
    """A loopback port that records whether anything connected to it."""

    def __init__(self) -> None:
        import socket
        import threading

        self.hits = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.close()


def hostile_refs(port):
    return [
        f"http://127.0.0.1:{port}/schema.json",
        f"http://127.0.0.1:{port}/schema.json#/definitions/x",
        "file:///etc/passwd",
        "/etc/passwd",
        "other-model.json",
        "https://apigateway.amazonaws.com/restapis/abc/models/Other",
        5,
        None,
    ]


def test_create_and_update_model_refuse_a_ref_that_leaves_the_model(gateway, listener):
    client = control_plane_client(gateway)
    api = client.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    good = client.create_model(
        ApiId=api["ApiId"],
        Name="Good",
        Schema=json.dumps(
            {
                "definitions": {"n": {"type": "integer"}},
                "properties": {"n": {"$ref": "#/definitions/n"}},
            }
        ),
    )
    for ref in hostile_refs(listener.port):
        for schema in ({"$ref": ref}, {"properties": {"a": {"items": [{"$ref": ref}]}}}):
            with pytest.raises(botocore.exceptions.ClientError, match="BadRequest"):
                client.create_model(ApiId=api["ApiId"], Name="Evil", Schema=json.dumps(schema))
            with pytest.raises(botocore.exceptions.ClientError, match="BadRequest"):
                client.update_model(
                    ApiId=api["ApiId"], ModelId=good["ModelId"], Schema=json.dumps(schema)
                )
    assert listener.hits == 0
    names = [m["Name"] for m in client.get_models(ApiId=api["ApiId"])["Items"]]
    assert names == ["Good"]


def test_a_stored_model_with_a_remote_or_looping_ref_is_inert(listener, tmp_path):
    """A state file written by hand can carry what create-model refuses: never fetched."""
    from ws_routes.local_gateway.deployed import DeployedStage

    schemas = {
        "Remote": {"$ref": f"http://127.0.0.1:{listener.port}/x.json"},
        "File": {"properties": {"n": {"$ref": f"file://{tmp_path}/secret.json"}}},
        "Loop": {"$ref": "#"},
    }
    (tmp_path / "secret.json").write_text('{"type": "string"}')
    snapshot = {
        "api": {"routeSelectionExpression": "$request.body.action"},
        "routes": {
            name: {
                "routeId": name,
                "routeKey": name.lower(),
                "requestModels": {"$default": name},
                "modelSelectionExpression": "$default",
                "target": "integrations/i",
            }
            for name in schemas
        },
        "integrations": {"i": {}},
        "models": {n: {"name": n, "schema": json.dumps(s)} for n, s in schemas.items()},
        "routeResponses": {},
    }
    stage = DeployedStage("api", "prod", snapshot)
    for name in schemas:
        assert stage.body_refused(name.lower(), '{"n": 1}') is True, name
    assert listener.hits == 0


def test_a_signed_body_that_arrives_in_pieces_is_read_whole_before_the_signature(gateway):
    """``StreamReader.read(n)`` returns what has arrived: hashing only the first piece made a
    good signature look forged (403) when the body came in two TCP segments (CI, Python 3.13)."""
    import asyncio

    body = API[:-1] + b" " * 20_000 + b"}"
    url = gateway.control_plane_endpoint + "/v2/apis"
    headers = sigv4_headers(next(iter(KEYS.items())), "POST", url, body)
    headers.pop("Content-Length", None)

    async def pieces():
        yield body[:1000]
        await asyncio.sleep(0.3)
        yield body[1000:]

    status, code, answer = run(request(url, "POST", pieces(), headers))
    assert status == 201, (code, answer)
    assert api_count(gateway) == 1
