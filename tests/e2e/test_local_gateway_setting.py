"""Issue 26 item 4: one setting, ``WS_ROUTES["LOCAL_GATEWAY"]``, points everything local.

No ``AWS_ENDPOINT_URL_*`` variable and no other endpoint setting: ``syncroutes`` deploys to the
local gateway's control plane and prints the client URL, the admin's "Sync routes" goes there
too, and a send from Django reaches the socket through its management API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import aiohttp
import pytest
from django.core.management import call_command
from django.db import connections

from tests.e2e.support import run
from ws_routes.deploy import aws as deploy_aws
from ws_routes.local_gateway import LocalGateway
from ws_routes.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)

STAGE = "production"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[LocalGateway]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    for name in ("AWS_ENDPOINT_URL_APIGATEWAYV2", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"):
        monkeypatch.delenv(name, raising=False)
    with LocalGateway() as local:
        settings.WS_ROUTES = {**settings.WS_ROUTES, "LOCAL_GATEWAY": local.control_plane_endpoint}
        deploy_aws._cached_client.cache_clear()
        yield local
    deploy_aws._cached_client.cache_clear()


@pytest.fixture
def row(live_server: Any, settings: Any, gateway: LocalGateway) -> ApiGateway:
    settings.ROOT_URLCONF = "tests.e2e.local_setting_urls"
    return ApiGateway.objects.create(
        api_name="local-one",
        target_base_endpoint=live_server.url + "/ws/",
        stage_name=STAGE,
        region="eu-west-2",
    )


def in_own_connection(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, closing that thread's database connection after (left
    open, it kept PostgreSQL from dropping the test database at the end of the run)."""
    try:
        return fn(*args)
    finally:
        connections.close_all()


def test_one_setting_deploys_prints_the_client_url_and_sends(row, gateway):
    out = StringIO()
    call_command("syncroutes", stdout=out)
    row.refresh_from_db()
    assert row.api_endpoint == gateway.api_endpoint  # the control plane was the local one
    url = f"{gateway.api_endpoint}/{STAGE}"
    assert f"Clients connect to {url}" in out.getvalue().splitlines()

    async def scenario() -> Any:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"action": "echo", "n": 1}))
            assert json.loads(await ws.receive_str(timeout=5))["data"]["echo"]["n"] == 1
            session = await asyncio.to_thread(
                in_own_connection, WebSocketSession.objects.latest, "pk"
            )
            result = await asyncio.to_thread(in_own_connection, session.send, {"type": "hello"})
            assert result.delivered == 1, result
            return json.loads(await ws.receive_str(timeout=5))

    assert run(scenario(), timeout=20) == {"type": "hello"}


def test_a_dry_run_prints_no_client_url(row, gateway):
    out = StringIO()
    call_command("syncroutes", "--dry-run", stdout=out)
    assert "Clients connect to" not in out.getvalue()


def test_the_admins_sync_routes_goes_to_the_local_gateway(row, gateway, client, django_user_model):
    import re

    staff = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(staff)
    url = "/admin/ws_routes/apigateway/"
    picked = {"action": "sync_routes", "_selected_action": [str(row.pk)]}
    preview = client.post(url, {**picked, "index": "0"})
    assert preview.status_code == 200, preview.content[:500]
    page = preview.content.decode()
    digest = re.search(rf'name="digest-{row.pk}" value="([0-9a-f]+)"', page).group(1)
    confirm = client.post(url, {**picked, "confirm": "yes", f"digest-{row.pk}": digest})
    assert confirm.status_code == 302
    row.refresh_from_db()
    assert row.api_endpoint == gateway.api_endpoint and row.deployment_id
