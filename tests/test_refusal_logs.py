"""Issue 26 item 5: a refusal says what to compare, in the log, never the secrets themselves.

The view's 403 for a wrong gateway secret, a management API's 403 for a signature, the local
gateway's 403 for a stage that does not exist, and a stage taken over by another API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.support import StubBackend, control_plane_client, run
from ws_routes import security
from ws_routes.local_gateway import LocalGateway, request_guard
from ws_routes.sending import refusals

SENT_SECRET = "sent-but-wrong-secret-0123456789-abcdefghijkl"


@pytest.fixture(autouse=True)
def fresh_log_limits(monkeypatch):
    monkeypatch.setattr(security, "_wrong_secret_logged_at", [-1e9], raising=False)
    monkeypatch.setattr(refusals, "_reported", set())
    monkeypatch.setattr(request_guard, "_logged_refusals", set(), raising=False)


def test_a_wrong_gateway_secret_names_the_setting_to_compare(gateway, caplog, settings):
    headers = gateway.headers("CONNECT", "Conn1=", "$connect")
    headers["HTTP_X_WS_SECRET"] = SENT_SECRET
    with caplog.at_level(logging.WARNING, logger="ws_routes"):
        for _ in range(3):
            response = gateway.client.post("/ws/", b"", content_type="", **headers)
            assert response.status_code == 403
    lines = [r.getMessage() for r in caplog.records if "X-Ws-Secret" in r.getMessage()]
    assert len(lines) == 1  # at most one a minute: a scanner cannot flood the log
    assert "matches no entry of WS_ROUTES['GATEWAY_SECRETS']" in lines[0]
    assert "integration.request.header.X-Ws-Secret" in lines[0]
    assert SENT_SECRET not in caplog.text
    for secret in settings.WS_ROUTES["GATEWAY_SECRETS"]:
        assert secret not in caplog.text


@pytest.mark.django_db
def test_the_right_secret_logs_nothing(gateway, caplog):
    with caplog.at_level(logging.WARNING, logger="ws_routes"):
        assert gateway.connect().status_code == 200
    assert "X-Ws-Secret" not in caplog.text


# -- the local gateway --------------------------------------------------------------------------


@pytest.fixture
def backend() -> Iterator[StubBackend]:
    stub = StubBackend().start()
    yield stub
    stub.stop()


@pytest.fixture
def local(backend: StubBackend) -> Iterator[LocalGateway]:
    with LocalGateway(backend.url, secret="s" * 40, stage="local") as running:
        yield running


async def _status(url: str) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url):
            return 101
    except aiohttp.WSServerHandshakeError as error:
        return error.status


def test_a_wrong_stage_is_logged_with_the_stages_that_exist(local, caplog):
    with caplog.at_level(logging.WARNING, logger="ws_routes.local_gateway"):
        assert run(_status(local.api_endpoint + "/prod")) == 403
        assert run(_status(local.api_endpoint + "/prod")) == 403
    lines = [r.getMessage() for r in caplog.records if "Forbidden" in r.getMessage()]
    assert lines == [
        "403 Forbidden for '/prod': no stage of that name answers here. Stages: /local."
    ]


def test_hostile_wrong_paths_stay_short_and_bounded(local, caplog):
    async def many() -> list[int]:
        return await asyncio.gather(
            *(_status(f"{local.api_endpoint}/s{i}{'x' * 300}") for i in range(60))
        )

    with caplog.at_level(logging.WARNING, logger="ws_routes.local_gateway"):
        assert set(run(many())) == {403}
    lines = [r.getMessage() for r in caplog.records if "Forbidden" in r.getMessage()]
    assert len(lines) == 50
    assert all(len(line) < 200 for line in lines)


def _deployed_api(client: Any, backend: StubBackend, stage: str) -> str:
    api_id = client.create_api(
        Name="a", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend.url,
    )["IntegrationId"]
    client.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration}")
    client.create_stage(ApiId=api_id, StageName=stage)
    client.create_deployment(ApiId=api_id, StageName=stage)
    return str(api_id)


def test_a_stage_taken_over_by_another_api_is_logged(local, backend, caplog):
    client = control_plane_client(local)
    first = _deployed_api(client, backend, "prod")
    assert run(_status(local.api_endpoint + "/prod")) == 101
    with caplog.at_level(logging.WARNING, logger="ws_routes.local_gateway"):
        assert run(_status(local.api_endpoint + "/prod")) == 101
        assert "taken" not in caplog.text and "now served" not in caplog.text
        second = _deployed_api(client, backend, "prod")
        assert run(_status(local.api_endpoint + "/prod")) == 101
    (line,) = [r.getMessage() for r in caplog.records if "now served" in r.getMessage()]
    assert line.startswith(f"Stage 'prod' is now served by API {second} (deployed there last);")
    assert f"API {first}'s deployment on it no longer answers" in line
    with caplog.at_level(logging.WARNING, logger="ws_routes.local_gateway"):
        assert run(_status(local.api_endpoint + "/nope")) == 403
    assert "Stages: /local, /prod." in caplog.text


def test_a_refused_signature_names_the_access_key_ids_not_the_secrets(local, caplog):
    botocore_session = pytest.importorskip("botocore.session")
    client = botocore_session.get_session().create_client(
        "apigatewaymanagementapi",
        endpoint_url=local.management_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDWRONGKEY",
        aws_secret_access_key="wrong-secret-key-never-logged",
    )
    with (
        caplog.at_level(logging.WARNING, logger="ws_routes.local_gateway"),
        pytest.raises(Exception, match="403|Forbidden|invalid"),
    ):
        client.post_to_connection(ConnectionId="abc=", Data=b"x")
    (line,) = [r.getMessage() for r in caplog.records if "Refused a request" in r.getMessage()]
    accepted_id, accepted_secret = local.management_credentials.first()
    assert line.startswith("Refused a request signed with access key id AKIDWRONGKEY:")
    assert f"access key id {accepted_id}" in line
    assert "wrong-secret-key-never-logged" not in caplog.text
    assert accepted_secret not in caplog.text


def test_the_sender_names_its_access_key_id_when_refused(caplog):
    with caplog.at_level(logging.WARNING, logger="ws_routes.sending"):
        for _ in range(3):
            refusals.report_refused_signature(
                "127.0.0.1:8001", "AKIDSENDER", b'{"message":"Forbidden"}'
            )
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        "The management API at 127.0.0.1:8001 refused a post signed with access key id "
        "AKIDSENDER (403: Forbidden): compare the access key id"
    )


def test_a_send_refused_403_logs_the_access_key_id(settings, monkeypatch, tmp_path, caplog):
    from tests.fake_management_api import FakeManagementApi
    from ws_routes.models import WebSocketSession
    from ws_routes.sending import reset_sender, send_to_sessions

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSENDERTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sender-secret-never-logged")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    reset_sender()
    try:
        with FakeManagementApi() as fake, caplog.at_level(logging.WARNING, "ws_routes.sending"):
            settings.WS_ROUTES = {**settings.WS_ROUTES, "MANAGEMENT_ENDPOINT": fake.url}
            sessions = [WebSocketSession(connection_id="denied-1", api_id="abc123", stage="p")]
            result = send_to_sessions(sessions, {"n": 1})
    finally:
        reset_sender()
    assert result.delivered == 0
    (line,) = [r.getMessage() for r in caplog.records if "refused a post" in r.getMessage()]
    assert "signed with access key id AKIDSENDERTEST (403: Forbidden)" in line
    assert "sender-secret-never-logged" not in caplog.text
