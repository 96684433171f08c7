"""The reference's command names and options (issue 13, item 3) and its URL layout (item 5)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import clear_url_caches
from django.utils import timezone

from tests.conftest import FakeGateway
from ws_routes.compat import url_layout
from ws_routes.models import ApiGateway, ConnectToken, WebSocketSession

pytest_plugins = ["tests.deploy_fixtures"]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


# -- cleanupWebSocketTokens ---------------------------------------------------------------------


@pytest.mark.django_db
def test_cleanup_tokens_keeps_valid_ones_by_default(alice):
    now = timezone.now()
    ConnectToken.mint(alice)  # valid
    ConnectToken.objects.create(token_hash="a" * 64, user=alice, expires_at=now)  # expired
    ConnectToken.objects.create(
        token_hash="b" * 64,
        user=alice,
        created_at=now - timedelta(seconds=400),
        expires_at=now + timedelta(seconds=30),
    )
    assert "Would delete 2 WebSocket tokens" in run("cleanupWebSocketTokens", "--dry-run")
    assert ConnectToken.objects.count() == 3
    out = run("cleanupWebSocketTokens", "--rate-limit-age", "3")
    assert "Successfully deleted 2 expired WebSocket tokens" in out
    assert "older than 300s" in out and "nothing to delete" in out
    assert ConnectToken.objects.count() == 1


@pytest.mark.django_db
def test_cleanup_tokens_token_age_and_the_ttl_floor(alice, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_TTL_SECONDS": 900}
    ConnectToken.objects.create(
        token_hash="c" * 64,
        user=alice,
        created_at=timezone.now() - timedelta(seconds=600),
        expires_at=timezone.now() + timedelta(seconds=300),
    )
    assert "older than 900s" in run("cleanupWebSocketTokens")
    assert ConnectToken.objects.count() == 1
    run("cleanupWebSocketTokens", "--token-age", "10")
    assert ConnectToken.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args", [("--token-age", "-1"), ("--rate-limit-age", "-3"), ("--token-age", "ten")]
)
def test_cleanup_tokens_refuses_bad_options(alice, args):
    ConnectToken.mint(alice)
    with pytest.raises((CommandError, SystemExit)):
        call_command("cleanupWebSocketTokens", *args, stdout=StringIO(), stderr=StringIO())
    assert ConnectToken.objects.count() == 1


# -- updateApiGatewayIntegrations ---------------------------------------------------------------


def test_update_integrations_pushes_a_rotated_secret_through_the_sync(ws_gateway, aws, settings):
    run("syncroutes")
    ws_gateway.refresh_from_db()
    assert ws_gateway.api_id
    new_secret = "rotated-secret-0123456789-abcdefghijklmnopqrstuv"
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "GATEWAY_SECRETS": [new_secret, settings.GATEWAY_SECRET],
    }
    aws.reset()
    dry = run("updateApiGatewayIntegrations", "--dry-run")
    assert "~ integration" in dry and "Dry run:" in dry
    assert aws.mutating_calls == []
    out = run("updateApiGatewayIntegrations", "--pk", str(ws_gateway.pk))
    assert "applied" in out
    items = aws.get_integrations(ApiId=ws_gateway.api_id)["Items"]
    for item in items:
        assert item["RequestParameters"]["integration.request.header.X-Ws-Secret"] == (
            f"'{new_secret}'"
        )
    assert "in sync" in run("updateApiGatewayIntegrations")


def test_update_integrations_does_not_prune_unless_asked(ws_gateway, aws, ws_router):
    run("syncroutes")
    ws_gateway.refresh_from_db()
    aws.create_route(ApiId=ws_gateway.api_id, RouteKey="legacy.route")
    out = run("updateApiGatewayIntegrations")
    assert "- route legacy.route" not in out
    assert "- route legacy.route" in run("updateApiGatewayIntegrations", "--prune", "--dry-run")


@pytest.mark.django_db
def test_update_integrations_without_deployed_gateways_or_with_a_bad_pk(ws_gateway, aws):
    assert "nothing to do" in run("updateApiGatewayIntegrations")
    with pytest.raises(CommandError, match="No ApiGateway"):
        run("updateApiGatewayIntegrations", "--pk", "999")


# -- the reference's URL layout (item 5) --------------------------------------------------------


@pytest.fixture
def reference_urls(settings):
    settings.ROOT_URLCONF = "tests.reference_compat_urls"
    clear_url_caches()
    yield
    clear_url_caches()


def test_integration_uris_for_both_layouts(reference_urls):
    assert url_layout.integration_uris("https://www.example.com/rooms/") == (
        "https://www.example.com/rooms/default",
        "https://www.example.com/rooms/connect",
    )
    # our own layout: path("ws/", include(router.urls))
    assert url_layout.integration_uris("https://www.example.com/ws/") == (
        "https://www.example.com/ws/",
        "https://www.example.com/ws/",
    )
    from tests.reference_compat_urls import RoomView

    router = url_layout.reference_layout_router("https://www.example.com/rooms/")
    assert router is not None and set(router.routes) == set(RoomView.route_names())
    for not_reference in (
        "https://www.example.com/rooms",  # no trailing slash
        "https://www.example.com/nothing/",
        "https://www.example.com/admin/",  # served, but not by a gateway view
        "https://www.example.com/rooms/default/",
    ):
        assert url_layout.reference_layout_router(not_reference) is None, not_reference


@pytest.mark.django_db
def test_syncroutes_accepts_the_reference_layout_and_it_is_served(reference_urls, aws, client):
    gateway = ApiGateway.objects.create(
        api_name="rooms", target_base_endpoint="https://www.example.com/rooms/", region="eu-west-2"
    )
    out = run("syncroutes", "--gateway", "rooms")
    assert "+ route change_channel" in out and "+ route whoami" in out
    gateway.refresh_from_db()
    uris = {
        item["Description"]: item["IntegrationUri"]
        for item in aws.get_integrations(ApiId=gateway.api_id)["Items"]
    }
    assert sorted(uris.values()) == [
        "https://www.example.com/rooms/connect",
        "https://www.example.com/rooms/default",
    ]
    # served: the URLs the integrations call reach RoomView with our header contract
    connect = FakeGateway(client, "/rooms/connect").connect(query="channel=lobby")
    assert connect.status_code == 200
    message = FakeGateway(client, "/rooms/default").message(
        connect.connection_id, {"action": "whoami"}
    )
    assert message.json()["channel"] == "lobby"
    assert WebSocketSession.objects.get().connected
