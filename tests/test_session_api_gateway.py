"""The reference package's ``session.api_gateway`` and ``updated_on``, and the gateway's trailing
slash: set at ``$connect`` in the connect's own INSERT, filterable, out of the message query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ws_routes.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db


def gateway_row(name: str, api_id: str, stage: str) -> ApiGateway:
    return ApiGateway.objects.create(api_name=name, api_id=api_id, stage_name=stage)


def test_a_connect_records_its_gateway_row_without_a_query_of_its_own(gateway):
    prod = gateway_row("prod", "abc123", "prod")
    gateway_row("dev", "abc123", "dev")
    with CaptureQueriesContext(connection) as with_row:
        assert gateway.connect(query="channel=lobby").status_code == 200
    session = WebSocketSession.objects.get()
    assert session.api_gateway == prod  # the exact stage, not the other row of the api
    assert WebSocketSession.objects.filter(api_gateway=prod).count() == 1
    assert list(prod.sessions.all()) == [session]
    ApiGateway.objects.all().delete()
    WebSocketSession.objects.all().delete()
    with CaptureQueriesContext(connection) as without_row:
        assert gateway.connect(query="channel=lobby").status_code == 200
    assert len(with_row.captured_queries) == len(without_row.captured_queries)


def test_a_connect_of_no_known_api_leaves_the_key_empty_and_succeeds(gateway):
    gateway_row("other", "zzz999", "prod")
    response = gateway.connect(query="channel=lobby", HTTP_X_WS_API_ID="unknownapi")
    assert response.status_code == 200
    assert WebSocketSession.objects.get().api_gateway_id is None


def test_any_stage_of_the_api_when_none_matches(gateway):
    only = gateway_row("staging", "abc123", "staging")
    assert gateway.connect(query="channel=lobby").status_code == 200
    assert WebSocketSession.objects.get().api_gateway == only


def test_the_session_handed_to_hooks_reads_its_gateway_from_the_row(gateway, monkeypatch):
    from tests.testapp import ws as testapp_ws

    prod = gateway_row("prod", "abc123", "prod")
    seen = []

    def remember(request):
        seen.append(request.websocket_session)

    monkeypatch.setattr(
        testapp_ws.router, "_connect_hooks", [*testapp_ws.router._connect_hooks, remember]
    )
    assert gateway.connect(query="channel=lobby").status_code == 200
    # The hook ran before the INSERT; after it, the instance reads the key from the row.
    assert seen[0].api_gateway == prod


def test_deleting_the_gateway_keeps_its_sessions(gateway):
    prod = gateway_row("prod", "abc123", "prod")
    gateway.connect(query="channel=lobby")
    prod.delete()
    assert WebSocketSession.objects.get().api_gateway_id is None


def test_the_message_query_does_not_join_the_gateway(gateway, django_assert_num_queries):
    gateway_row("prod", "abc123", "prod")
    connection_id = gateway.connect(query="channel=lobby").connection_id
    with CaptureQueriesContext(connection) as queries:
        gateway.message(connection_id, {"action": "echo"})
    assert len(queries.captured_queries) == 1
    assert "ws_routes_apigateway" not in queries.captured_queries[0]["sql"]


def test_updated_on_moves_on_save_and_at_disconnect(gateway):
    connection_id = gateway.connect(query="channel=lobby").connection_id
    session = WebSocketSession.objects.get()
    first = session.updated_on
    session.save(update_fields=["updated_on"])  # the reference's message-patterns page
    session.refresh_from_db()
    assert session.updated_on > first
    gateway.disconnect(connection_id)
    closed = WebSocketSession.objects.get()
    assert not closed.connected and closed.updated_on >= session.updated_on


@pytest.mark.parametrize(
    ("given", "saved"),
    [
        ("https://www.example.com/ws", "https://www.example.com/ws/"),
        ("https://www.example.com/ws/", "https://www.example.com/ws/"),
        ("", ""),
    ],
)
def test_the_target_endpoint_keeps_its_trailing_slash(given, saved):
    row = ApiGateway.objects.create(api_name="g", target_base_endpoint=given)
    row.refresh_from_db()
    assert row.target_base_endpoint == saved
    row.target_base_endpoint = "https://other.example.com/x"
    row.save(update_fields=["target_base_endpoint"])
    row.refresh_from_db()
    assert row.target_base_endpoint == "https://other.example.com/x/"


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_key_in_batches_and_is_safe_to_re_run(monkeypatch):
    import importlib

    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        ("ws_routes", "0009_gateway_target_lambda_arn"),
        (
            "ws_routes",
            "0010_session_api_gateway",
        ),
    )
    migration = importlib.import_module("ws_routes.migrations.0010_session_api_gateway")
    monkeypatch.setattr(migration, "BATCH", 3)  # several batches out of a few rows
    MigrationExecutor(connection).migrate([before])
    old = MigrationExecutor(connection).loader.project_state([before]).apps
    OldGateway = old.get_model("ws_routes", "ApiGateway")
    OldSession = old.get_model("ws_routes", "WebSocketSession")
    prod = OldGateway.objects.create(api_name="prod", api_id="abc123", stage_name="prod")
    dev = OldGateway.objects.create(api_name="dev", api_id="abc123", stage_name="dev")
    other = OldGateway.objects.create(api_name="other", api_id="zzz999", stage_name="live")
    for n, (api_id, stage) in enumerate(
        [("abc123", "prod")] * 4 + [("abc123", "dev")] * 2 + [("zzz999", "beta"), ("nope", "x")]
    ):
        OldSession.objects.create(connection_id=f"m{n:02d}", api_id=api_id, stage=stage)
    try:
        MigrationExecutor(connection).migrate([after])
        found = dict(WebSocketSession.objects.values_list("connection_id", "api_gateway_id"))
        assert found == {
            **{f"m{n:02d}": prod.pk for n in range(4)},
            "m04": dev.pk,
            "m05": dev.pk,
            "m06": other.pk,  # no row of that stage: the api's row
            "m07": None,  # no row of that api: left empty
        }
        migration.fill_api_gateway(
            MigrationExecutor(connection).loader.project_state([after]).apps,
            type("Editor", (), {"connection": connection})(),
        )
        again = dict(WebSocketSession.objects.values_list("connection_id", "api_gateway_id"))
        assert again == found
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
