"""Issue 10 items 11-13: the local gateway is a development tool, still not an open relay.

A real gateway (LocalGateway on 127.0.0.1:0) in front of a stub backend; the management API is
called with real boto3 clients and raw aiohttp requests, signed by botocore where they should be.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta, timezone
from io import StringIO

import aiohttp
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.core.management import CommandError
from multidict import CIMultiDict

from tests.e2e.support import StubBackend, management_client, run
from ws_routes.local_gateway import GatewayConfig, GatewayServer, LocalGateway
from ws_routes.local_gateway.management_auth import is_loopback, resolve_management_credentials
from ws_routes.local_gateway.sigv4 import SignatureError, verify_sigv4
from ws_routes.management.commands.runwsgateway import Command

SECRET = "gateway-test-secret-0123456789abcdef"
KEYS = {"AKIDLOCAL": "local-secret"}


@pytest.fixture
def backend():
    stub = StubBackend().start()
    yield stub
    stub.stop()


@pytest.fixture
def no_aws_environment(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def signed_headers(method, url, body=b"", key="AKIDLOCAL", secret="local-secret", extra=None):
    request = AWSRequest(method=method, url=url, data=body, headers=extra or {})
    SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


async def open_socket(session, gateway):
    ws = await session.ws_connect(gateway.url)
    await ws.send_str(json.dumps({"action": "whoami"}))
    connection_id = json.loads(await ws.receive_str(timeout=5))["connectionId"]
    return ws, connection_id


# -- 11: credentials, always ----------------------------------------------------------------------


def test_unsigned_requests_cannot_post_read_or_close(backend, no_aws_environment):
    with LocalGateway(backend.url, secret=SECRET, port=0) as gateway:

        async def scenario():
            async with aiohttp.ClientSession() as session:
                ws, connection_id = await open_socket(session, gateway)
                url = f"{gateway.management_endpoint}/@connections/{connection_id}"
                statuses = {}
                for method, body in (("POST", b"forged"), ("GET", b""), ("DELETE", b"")):
                    async with session.request(
                        method, url, data=body, headers={"Content-Type": "text/plain"}
                    ) as response:
                        statuses[method] = (response.status, await response.text())
                with pytest.raises(asyncio.TimeoutError):
                    await ws.receive(timeout=0.3)  # nothing delivered, still open
                assert not ws.closed
                await ws.close()
                return statuses

        statuses = run(scenario())
    assert {method: status for method, (status, _) in statuses.items()} == {
        "POST": 403,
        "GET": 403,
        "DELETE": 403,
    }
    assert "127.0.0.1" not in statuses["GET"][1]  # no source IP or user agent leaked


def test_generated_credentials_work_and_nothing_else_does(backend, no_aws_environment):
    with LocalGateway(backend.url, secret=SECRET, port=0) as gateway:
        credentials = gateway.management_credentials
        assert credentials.generated
        key_id, secret_key = credentials.first()
        assert len(key_id) == 20 and len(secret_key) >= 40
        good = management_client(gateway.management_endpoint, key=key_id, secret=secret_key)
        guessed = management_client(gateway.management_endpoint)  # AKIDLOCAL/local-secret

        async def scenario():
            async with aiohttp.ClientSession() as session:
                ws, connection_id = await open_socket(session, gateway)
                await asyncio.to_thread(
                    good.post_to_connection, ConnectionId=connection_id, Data=b"ok"
                )
                assert await ws.receive_str(timeout=5) == "ok"
                with pytest.raises(guessed.exceptions.ForbiddenException):
                    await asyncio.to_thread(
                        guessed.post_to_connection, ConnectionId=connection_id, Data=b"no"
                    )
                await ws.close()

        run(scenario())


def test_environment_credentials_are_used(backend, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    with LocalGateway(backend.url, secret=SECRET, port=0) as gateway:
        assert gateway.management_credentials.source == "environment"
        api = management_client(gateway.management_endpoint, key="AKIDFROMENV", secret="env-secret")
        with pytest.raises(api.exceptions.GoneException):  # signature accepted, id unknown
            api.post_to_connection(ConnectionId="nobody", Data=b"x")


def test_requests_with_an_origin_are_refused_even_when_signed(backend):
    with LocalGateway(backend.url, secret=SECRET, port=0, management_credentials=KEYS) as gateway:

        async def scenario():
            async with aiohttp.ClientSession() as session:
                ws, connection_id = await open_socket(session, gateway)
                url = f"{gateway.management_endpoint}/@connections/{connection_id}"
                statuses = []
                for origin in ("https://evil.example", "null", ""):
                    headers = signed_headers("POST", url, b"x")
                    headers["Origin"] = origin
                    async with session.post(url, data=b"x", headers=headers) as response:
                        statuses.append((response.status, response.headers["x-amzn-ErrorType"]))
                with pytest.raises(asyncio.TimeoutError):
                    await ws.receive(timeout=0.3)
                await ws.close()
                return statuses

        assert run(scenario()) == [(403, "ForbiddenException")] * 3


def test_a_non_loopback_host_needs_credentials(no_aws_environment):
    for host in ("0.0.0.0", "::", "192.0.2.10", "example.com"):
        config = GatewayConfig(target="http://127.0.0.1:8000/ws/", secret=SECRET, host=host)
        with pytest.raises(ValueError, match="without credentials"):
            GatewayServer(config)  # refused before anything is bound
        given = GatewayConfig(
            target="http://127.0.0.1:8000/ws/",
            secret=SECRET,
            host=host,
            management_credentials=KEYS,
        )
        assert GatewayServer(given).management_credentials.source == "configured"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10") and not is_loopback("10.0.0.1")


def test_bad_configured_credentials_are_refused():
    for bad in ({}, {"": "x"}, {"AKID": ""}, {"AKID": None}):
        with pytest.raises(ValueError):
            resolve_management_credentials(bad, "127.0.0.1", {})


def test_runwsgateway_refuses_a_public_host_without_credentials(no_aws_environment):
    command = Command(stdout=StringIO(), stderr=StringIO())
    options = vars(
        command.create_parser("manage.py", "runwsgateway").parse_args(["--host=0.0.0.0"])
    )
    config = command.build_config(options)
    with pytest.raises(CommandError, match="without credentials"):
        run(command.serve(config))


def test_runwsgateway_credential_options(no_aws_environment):
    command = Command(stdout=StringIO(), stderr=StringIO())
    parser = command.create_parser("manage.py", "runwsgateway")
    config = command.build_config(
        vars(parser.parse_args(["--access-key-id=AKIDCLI", "--secret-access-key=cli-secret"]))
    )
    assert dict(config.management_credentials) == {"AKIDCLI": "cli-secret"}
    with pytest.raises(CommandError, match="both"):
        command.build_config(vars(parser.parse_args(["--access-key-id=AKIDCLI"])))


def test_the_banner_prints_a_generated_pair_but_never_a_given_secret(monkeypatch):
    config = GatewayConfig(target="http://127.0.0.1:8000/ws/", secret=SECRET)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    generated = GatewayServer(config)
    key_id, secret_key = generated.management_credentials.first()
    lines = "\n".join(Command._credential_lines(generated))
    assert f"AWS_ACCESS_KEY_ID={key_id}" in lines and secret_key in lines
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-secret")
    lines = "\n".join(Command._credential_lines(GatewayServer(config)))
    assert "AKIDREAL" in lines and "a-real-secret" not in lines


# -- 12: the verifier -----------------------------------------------------------------------------


URL = "http://127.0.0.1:8001/@connections/abc%3D"


def as_received(method, url, body, headers):
    received = CIMultiDict(headers)
    received["Host"] = "127.0.0.1:8001"
    return dict(method=method, raw_path="/@connections/abc%3D", headers=received, body=body)


def test_the_body_is_hashed_not_the_header_believed():
    body = b"what was signed"
    headers = signed_headers("POST", URL, body)
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    verify_sigv4(**as_received("POST", URL, body, headers), credentials=KEYS)
    # The same signed headers, another body: before, the claimed hash was trusted.
    with pytest.raises(SignatureError, match="X-Amz-Content-SHA256"):
        verify_sigv4(**as_received("POST", URL, b"another body", headers), credentials=KEYS)
    del headers["X-Amz-Content-SHA256"]
    with pytest.raises(SignatureError, match="does not match"):
        verify_sigv4(**as_received("POST", URL, b"another body", headers), credentials=KEYS)
    headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    with pytest.raises(SignatureError):
        verify_sigv4(**as_received("POST", URL, body, headers), credentials=KEYS)


def test_a_signature_older_or_newer_than_15_minutes_is_refused():
    headers = signed_headers("POST", URL, b"x")
    signed_at = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=timezone.utc
    )
    request = as_received("POST", URL, b"x", headers)
    for offset in (timedelta(minutes=14), timedelta(minutes=-14), timedelta(0)):
        verify_sigv4(**request, credentials=KEYS, now=signed_at + offset)
    with pytest.raises(SignatureError, match="expired"):
        verify_sigv4(**request, credentials=KEYS, now=signed_at + timedelta(minutes=16))
    with pytest.raises(SignatureError, match="not yet current"):
        verify_sigv4(**request, credentials=KEYS, now=signed_at - timedelta(minutes=16))


def test_a_replayed_old_request_is_refused_by_the_real_gateway(backend):
    with LocalGateway(backend.url, secret=SECRET, port=0, management_credentials=KEYS) as gateway:
        url = f"{gateway.management_endpoint}/@connections/nobody"
        request = AWSRequest(method="POST", url=url, data=b"x")
        request.context["timestamp"] = "20200101T000000Z"
        auth = SigV4Auth(Credentials("AKIDLOCAL", "local-secret"), "execute-api", "us-east-1")
        auth._modify_request_before_signing(request)
        canonical = auth.canonical_request(request)
        signature = auth.signature(auth.string_to_sign(request, canonical), request)
        auth._inject_signature_to_request(request, signature)
        headers = dict(request.headers.items())
        headers["X-Amz-Date"] = "20200101T000000Z"

        async def scenario():
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, data=b"x", headers=headers) as response,
            ):
                return response.status, (await response.json())["message"]

        status, message = run(scenario())
    assert status == 403 and "expired" in message


def test_the_date_must_be_signed():
    headers = signed_headers("POST", URL, b"x")
    headers["Authorization"] = headers["Authorization"].replace(";x-amz-date", "")
    with pytest.raises(SignatureError, match="X-Amz-Date' must be a signed header"):
        verify_sigv4(**as_received("POST", URL, b"x", headers), credentials=KEYS)


@pytest.mark.parametrize("value", ["", "2024-01-02T03:04:05Z", "20240102T030405", "x" * 16])
def test_a_malformed_date_is_refused(value):
    headers = signed_headers("POST", URL, b"x")
    headers["X-Amz-Date"] = value
    with pytest.raises(SignatureError):
        verify_sigv4(**as_received("POST", URL, b"x", headers), credentials=KEYS)


# -- 13: CR/LF in an action -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["a\r\nX-Injected: 1", "line\nbreak", "cr\ronly", "nul\x00", "tab\tok?", "\x7f"]
)
def test_control_characters_in_an_action_route_to_default(backend, action):
    # route_keys=None: any action is a route, so the action itself would become X-Ws-Route.
    with LocalGateway(backend.url, secret=SECRET, port=0, route_keys=None) as gateway:

        async def scenario():
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(gateway.url) as ws,
            ):
                await ws.send_str(json.dumps({"action": action, "n": 1}))
                first = json.loads(await ws.receive_str(timeout=5))
                await ws.send_str(json.dumps({"action": "after"}))
                second = json.loads(await ws.receive_str(timeout=5))
                return first, second

        first, second = run(scenario())
    assert first["route"] == "$default"
    assert json.loads(first["echo"]) == {"action": action, "n": 1}  # the body is untouched
    assert second["route"] == "after"  # the socket and the gateway carry on
    assert not any("X-Injected" in event.route for event in backend.events)
