"""Auto-sync on deploy: SYNC_ON_MIGRATE, the registry digest and the ``check --deploy`` warning.

AWS is the local gateway's control plane (the ``aws`` fixture).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from tests.deploy_support import add_handler_route
from ws_routes.deploy import DeployError
from ws_routes.management.auto_sync import STALE_SYNC_CHECK_ID, registry_digest
from ws_routes.models import ApiGateway

pytest_plugins = ["tests.deploy_fixtures"]


def stale_ids() -> list[str]:
    return [m.id for m in run_checks(include_deployment_checks=True) if m.id == STALE_SYNC_CHECK_ID]


def test_a_sync_records_the_digest_and_the_check_follows_the_registry(
    ws_gateway, aws, ws_router, settings
):
    assert stale_ids() == []  # never synced: nothing to compare with
    call_command("syncroutes", stdout=StringIO())
    ws_gateway.refresh_from_db()
    assert ws_gateway.registry_digest == registry_digest(ws_gateway)
    assert ws_gateway.registry_synced_on is not None
    aws.reset()
    assert stale_ids() == []
    add_handler_route(ws_router, "new.route")
    assert stale_ids() == [STALE_SYNC_CHECK_ID]
    assert aws.calls == []  # the check never calls AWS
    call_command("syncroutes", stdout=StringIO())
    assert stale_ids() == []
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": ["n" * 40]}
    assert stale_ids() == [STALE_SYNC_CHECK_ID]  # a rotated secret is a sync owed too


def test_a_dry_run_records_nothing(ws_gateway, aws):
    call_command("syncroutes", "--dry-run", stdout=StringIO())
    ws_gateway.refresh_from_db()
    assert ws_gateway.registry_digest == ""


def test_sync_on_migrate_syncs_only_marked_gateways(ws_gateway, aws, settings):
    other = ApiGateway.objects.create(
        api_name="unmarked", target_base_endpoint=ws_gateway.target_base_endpoint
    )
    ApiGateway.objects.filter(pk=ws_gateway.pk).update(sync_on_migrate=True)
    call_command("migrate", verbosity=0, stdout=StringIO())
    assert aws.mutating_calls == []  # off by default
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SYNC_ON_MIGRATE": True}
    out = StringIO()
    call_command("migrate", verbosity=1, stdout=out)
    ws_gateway.refresh_from_db()
    other.refresh_from_db()
    assert ws_gateway.deployment_id and ws_gateway.registry_digest
    assert "ws_routes: Gateway chat: applied" in out.getvalue()
    assert other.api_id == "" and other.registry_digest == ""
    aws.reset()
    call_command("migrate", verbosity=0, stdout=StringIO())  # in sync: reads only
    assert aws.mutating_calls == []


def test_a_failed_auto_sync_fails_migrate_after_trying_every_gateway(ws_gateway, aws, settings):
    broken = ApiGateway.objects.create(
        api_name="broken", target_base_endpoint="https://www.example.com/not-mounted/"
    )
    ApiGateway.objects.update(sync_on_migrate=True)
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SYNC_ON_MIGRATE": True}
    out = StringIO()
    with pytest.raises(DeployError, match="sync failed for broken"):
        call_command("migrate", verbosity=1, stdout=out)
    ws_gateway.refresh_from_db()
    broken.refresh_from_db()
    assert ws_gateway.deployment_id  # the good one was synced all the same
    assert broken.registry_digest == "" and "FAILED" in out.getvalue()


@pytest.mark.parametrize("value", ["ftp://x", "not a url", 5])
def test_a_bad_endpoint_setting_is_refused(settings, value: Any):
    from django.core.exceptions import ImproperlyConfigured

    from ws_routes.endpoint_override import apigatewayv2_endpoint_url

    settings.WS_ROUTES = {**settings.WS_ROUTES, "AWS_ENDPOINT_URL_APIGATEWAYV2": value}
    with pytest.raises(ImproperlyConfigured, match="AWS_ENDPOINT_URL_APIGATEWAYV2"):
        apigatewayv2_endpoint_url()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "AWS_ENDPOINT_URL_APIGATEWAYV2": None}
    assert apigatewayv2_endpoint_url() is None
