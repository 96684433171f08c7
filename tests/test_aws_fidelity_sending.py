"""Sending as AWS needs it (issue 9): each gateway's own region (items 1, 2), partitions, the
CA bundle, proxies and boto3's endpoint variable (item 12). Real loopback servers throughout.
"""

from __future__ import annotations

import logging
import threading

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.aws_stand_ins import RecordingProxy, TlsEndpoint
from tests.fake_management_api import FakeManagementApi
from tests.test_sending import _configure, aws_environment, lobby, make_sessions  # noqa: F401
from ws_routes.aws_partitions import execute_api_host, is_aws_host, partition_for
from ws_routes.conf import ws_settings
from ws_routes.models import ApiGateway, WebSocketSession, gateway_endpoints
from ws_routes.sending import Endpoint, SettingsEndpoints, reset_sender

pytestmark = pytest.mark.django_db

TRANSPORTS = ["ws_routes.sending.HttpTransport", "ws_routes.sending.Boto3Transport"]


def gateway(api_id: str, region: str, name: str | None = None) -> ApiGateway:
    return ApiGateway.objects.create(api_name=name or f"gw-{api_id}", api_id=api_id, region=region)


@pytest.fixture
def fake(settings):
    with FakeManagementApi() as api:
        _configure(
            settings,
            MANAGEMENT_ENDPOINT=api.url + "/{region}/{api_id}/{stage}",
            REGION="us-east-1",
            SEND_MAX_RETRIES=0,
            SEND_TRANSPORT="ws_routes.sending.HttpTransport",
        )
        reset_sender()
        yield api


# -- item 1: the gateway's region ------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_posts_go_to_and_are_signed_for_the_gateways_own_region(fake, settings, transport):
    _configure(settings, SEND_TRANSPORT=transport)
    gateway("londonapi", "eu-west-2")
    gateway("tokyoapi", "ap-northeast-1")
    make_sessions("ok-1", api_id="londonapi")
    make_sessions("ok-2", api_id="tokyoapi")
    make_sessions("ok-3", api_id="unknownapi")  # no row: WS_ROUTES["REGION"]

    result = lobby().send({"n": 1})

    assert (result.delivered, result.failed) == (3, 0)
    by_id = {r.connection_id: r for r in fake.received}
    assert by_id["ok-1"].raw_path == "/eu-west-2/londonapi/prod/@connections/ok-1"
    assert by_id["ok-1"].region == "eu-west-2"
    assert by_id["ok-2"].region == "ap-northeast-1"
    assert by_id["ok-3"].region == "us-east-1"
    assert all(r.signature_ok for r in fake.received)


def test_with_no_region_but_the_rows_every_send_still_works(fake, settings):
    _configure(settings, REGION=None)  # and no AWS_REGION (aws_environment)
    reset_sender()
    gateway("londonapi", "eu-west-2")
    (session,) = make_sessions("ok-1", api_id="londonapi")

    assert session.send({"n": 1}).delivered == 1
    assert async_to_sync(session.asend)({"n": 2}).delivered == 1
    assert async_to_sync(lobby().asend)({"n": 3}).delivered == 1
    assert {r.region for r in fake.received} == {"eu-west-2"}


def test_with_no_region_anywhere_the_send_raises_naming_the_row(fake, settings):
    _configure(settings, REGION=None)
    reset_sender()
    gateway("blankapi", "")
    (session,) = make_sessions("ok-1", api_id="blankapi")
    with pytest.raises(ImproperlyConfigured, match="ApiGateway row"):
        session.send({"n": 1})
    assert fake.received == []
    assert WebSocketSession.objects.get(connection_id="ok-1").connected


def test_the_region_is_read_once_per_api_id_per_broadcast(fake, settings):
    _configure(settings, SEND_CHUNK_SIZE=2)
    gateway("londonapi", "eu-west-2")
    gateway("tokyoapi", "ap-northeast-1")
    make_sessions(*[f"ok-l{i}" for i in range(7)], api_id="londonapi")
    make_sessions(*[f"ok-t{i}" for i in range(7)], api_id="tokyoapi")

    with CaptureQueriesContext(connection) as queries:
        result = lobby().send({"n": 1})

    assert result.delivered == 14
    gateway_reads = [q for q in queries.captured_queries if "ws_routes_apigateway" in q["sql"]]
    assert len(gateway_reads) == 2
    assert len(queries.captured_queries) == 8 + 2  # 8 chunks of 2 (7+7 rows), 2 region reads


def test_a_hostile_region_in_a_row_never_reaches_a_url(fake, settings):
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    gateway("evilapi", "eu-west-2.evil.example/x")
    (session,) = make_sessions("ok-1", api_id="evilapi")
    result = session.send({"n": 1})
    assert (result.delivered, result.failed) == (0, 1)
    assert fake.received == []


def test_concurrent_sends_to_gateways_in_different_regions(fake, settings, transactional_db):
    regions = {"apia": "eu-west-1", "apib": "us-west-2", "apic": "sa-east-1"}
    for api_id, region in regions.items():
        gateway(api_id, region)
        make_sessions(*[f"ok-{api_id}-{i}" for i in range(5)], channel=api_id, api_id=api_id)
    errors: list[BaseException] = []

    def send(api_id: str) -> None:
        try:
            for _ in range(3):
                assert WebSocketSession.objects.filter(channel_name=api_id).send({}).delivered == 5
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(api_id,)) for api_id in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(fake.received) == 45
    for received in fake.received:
        api_id = received.connection_id.split("-")[1]
        assert received.region == regions[api_id]
        assert received.raw_path.startswith(f"/{regions[api_id]}/{api_id}/")


# -- item 2: partitions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region, host, partition",
    [
        ("eu-west-2", "abc123.execute-api.eu-west-2.amazonaws.com", "aws"),
        ("cn-north-1", "abc123.execute-api.cn-north-1.amazonaws.com.cn", "aws-cn"),
        ("cn-northwest-1", "abc123.execute-api.cn-northwest-1.amazonaws.com.cn", "aws-cn"),
        ("us-gov-west-1", "abc123.execute-api.us-gov-west-1.amazonaws.com", "aws-us-gov"),
        ("us-iso-east-1", "abc123.execute-api.us-iso-east-1.c2s.ic.gov", "aws-iso"),
        ("us-isob-east-1", "abc123.execute-api.us-isob-east-1.sc2s.sgov.gov", "aws-iso-b"),
        ("cn-future-9", "abc123.execute-api.cn-future-9.amazonaws.com.cn", "aws-cn"),  # regex
    ],
)
def test_hosts_come_from_botocores_partitions(settings, region, host, partition):
    _configure(settings, MANAGEMENT_ENDPOINT=None, REGION=None)
    gateway("abc123", region)
    endpoint = gateway_endpoints()("abc123", "prod")
    assert endpoint == Endpoint(f"https://{host}/prod", region)
    assert endpoint.is_aws
    assert partition_for(region).id == partition
    assert execute_api_host("abc123", region) == host


@pytest.mark.parametrize(
    "hostname, is_aws",
    [
        ("x.execute-api.eu-west-2.amazonaws.com", True),
        ("x.execute-api.cn-north-1.amazonaws.com.cn", True),
        ("x.execute-api.us-iso-east-1.c2s.ic.gov", True),
        ("X.EXECUTE-API.EU-WEST-2.AMAZONAWS.COM.", True),
        ("amazonaws.com", False),
        ("x.amazonaws.com.evil.example", False),
        ("xamazonaws.com", False),
        ("127.0.0.1", False),
        ("ws.example.com", False),
    ],
)
def test_is_this_aws_is_decided_by_partition_suffixes(hostname, is_aws):
    assert is_aws_host(hostname) is is_aws


def test_a_china_endpoint_without_credentials_is_refused_as_aws(settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _configure(settings, MANAGEMENT_ENDPOINT=None, SEND_MAX_RETRIES=0)
    reset_sender()
    gateway("abc123", "cn-north-1")
    (session,) = make_sessions("ok-1", api_id="abc123")
    result = session.send({"n": 1})  # refused before any connection is made
    assert result.failed_ids == ["ok-1"]


# -- item 12: AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI -------------------------------------------


def test_boto3s_endpoint_variable_overrides_the_host(fake, settings, monkeypatch):
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", fake.url + "/{stage}")
    make_sessions("ok-1")
    assert lobby().send({"n": 1}).delivered == 1
    assert fake.received[0].raw_path == "/prod/@connections/ok-1"


def test_the_setting_wins_over_the_variable_and_the_switch_turns_it_off(settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "http://127.0.0.1:9/env")
    _configure(settings, MANAGEMENT_ENDPOINT="http://127.0.0.1:9/setting/{stage}")
    assert SettingsEndpoints(ws_settings())("a1", "prod").url == "http://127.0.0.1:9/setting/prod"
    _configure(settings, MANAGEMENT_ENDPOINT=None, REGION="eu-west-2")
    assert SettingsEndpoints(ws_settings())("a1", "prod").url == "http://127.0.0.1:9/env"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert (
        SettingsEndpoints(ws_settings())("a1", "prod").url
        == "https://a1.execute-api.eu-west-2.amazonaws.com/prod"
    )


@pytest.mark.parametrize(
    "value", ["not a url", "ftp://127.0.0.1/x", "http://user:pw@127.0.0.1:9", "http://[::1"]
)
def test_a_malformed_endpoint_variable_fails_the_recipients_with_a_reason(
    settings, monkeypatch, caplog, value
):
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", value)
    make_sessions("ok-1", "ok-2")
    result = lobby().send({"n": 1})
    assert (result.delivered, result.failed) == (0, 2)
    assert "management endpoint" in caplog.text
    assert WebSocketSession.objects.filter(connected=True).count() == 2


# -- item 12: the CA bundle ----------------------------------------------------------------------


@pytest.fixture
def tls(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)  # some machines set it globally
    with TlsEndpoint(tmp_path) as server:
        _configure(
            settings,
            MANAGEMENT_ENDPOINT=server.url + "/{stage}",
            SEND_MAX_RETRIES=0,
            SEND_TRANSPORT="ws_routes.sending.HttpTransport",
        )
        reset_sender()
        yield server


def test_without_the_bundle_an_unknown_ca_is_refused(tls):
    make_sessions("ok-1")
    assert lobby().send({"n": 1}).failed == 1
    assert tls.requests == []


def test_aws_ca_bundle_is_honoured(tls, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls.cert_path))
    reset_sender()
    make_sessions("ok-1", "ok-2")
    assert lobby().send({"n": 1}).delivered == 2
    assert sorted(tls.requests) == ["POST /prod/@connections/ok-1", "POST /prod/@connections/ok-2"]


def test_the_config_files_ca_bundle_is_honoured(tls, monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text(f"[default]\nca_bundle = {tls.cert_path}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    reset_sender()
    make_sessions("ok-1")
    assert lobby().send({"n": 1}).delivered == 1


@pytest.mark.parametrize("content", [None, b"", b"not a certificate\n", b"\x00" * 4096])
def test_a_bad_bundle_raises_before_anything_is_sent(tls, monkeypatch, tmp_path, content):
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    reset_sender()
    make_sessions("ok-1")
    with pytest.raises(ImproperlyConfigured, match="CA bundle"):
        lobby().send({"n": 1})
    assert tls.requests == []
    assert WebSocketSession.objects.get(connection_id="ok-1").connected


# -- item 12: proxies ----------------------------------------------------------------------------


def test_a_proxied_endpoint_is_posted_through_botocore_and_logged_once(fake, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="ws_routes.sending")
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        reset_sender()
        make_sessions("ok-1", "ok-2", "gone-1")
        first = lobby().send({"n": 1})
        second = WebSocketSession.objects.filter(connection_id="ok-1").send({"n": 2})
    assert (first.delivered, first.gone) == (2, 1)
    assert second.delivered == 1
    assert len(proxy.requests) == 4
    assert all(r.startswith(f"POST {fake.url}/us-east-1/abc123/prod/@") for r in proxy.requests)
    assert all(r.signature_ok for r in fake.received)
    assert caplog.text.count("a proxy applies to 127.0.0.1") == 1


def test_no_proxy_keeps_the_direct_path(fake, monkeypatch):
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        reset_sender()
        make_sessions("ok-1")
        assert lobby().send({"n": 1}).delivered == 1
    assert proxy.requests == []
    assert len(fake.received) == 1


def test_background_broadcasts_post_to_each_gateways_own_region(fake, settings):
    """The Celery shard runner resolves endpoints from the rows too (issue 9 item 1)."""
    pytest.importorskip("celery", reason="background sends need the [celery] extra")
    from tests.background_support import eager_celery

    _configure(settings, BACKGROUND_INLINE_MAX=0)  # always through the shards
    gateway("londonapi", "eu-west-2")
    gateway("tokyoapi", "ap-northeast-1")
    make_sessions("ok-1", api_id="londonapi")
    make_sessions("ok-2", api_id="tokyoapi")

    with eager_celery():
        broadcast = lobby().send({"n": 1}, background=True)
    broadcast.refresh_from_db()

    assert (broadcast.state, broadcast.delivered) == ("finished", 2)
    assert {r.connection_id: r.region for r in fake.received} == {
        "ok-1": "eu-west-2",
        "ok-2": "ap-northeast-1",
    }
