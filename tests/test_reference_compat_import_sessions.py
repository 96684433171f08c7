"""``import_reference_data`` copies the reference's connected sessions (issue 23, item 1).

Anonymous (no user: the reference's rows carry no login binding we can verify), with
``api_gateway`` mapped by api id, idempotent, in batches; hostile rows are skipped or land with
an empty key. Tables from tests/reference_tables.py.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import reference_tables as ref
from ws_routes.compat.reference_data import import_reference_data
from ws_routes.models import ApiGateway, Subscription, WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reference_tables():
    ref.create_tables()
    yield
    ref.drop_tables()


@pytest.fixture
def gateways(reference_tables):
    chat = ref.ApiGateway.objects.create(
        api_name="chat", target_base_endpoint="https://www.example.com/ws/", api_id="abc123"
    )
    lost = ref.ApiGateway.objects.create(  # not copied (ours holds 128): no row of this api id
        api_name="l" * 200, target_base_endpoint="https://www.example.com/ws/", api_id="zzz999"
    )
    return chat, lost


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_reference_data", *args, stdout=out)
    return out.getvalue()


def test_connected_sessions_are_copied_anonymous_with_the_gateway_by_api_id(gateways, alice):
    chat, lost = gateways
    ref.WebSocketSession.objects.create(
        connection_id="Aa1=", channel_name="lobby", user_id=alice.pk, api_gateway=chat,
        session_key_hash="h" * 64, auth_hash="a" * 64,
    )  # fmt: skip
    ref.WebSocketSession.objects.create(connection_id="Bb2=", api_gateway=lost)
    ref.WebSocketSession.objects.create(connection_id="Cc3=", api_gateway=None)
    ref.WebSocketSession.objects.create(connection_id="Gone=", connected=False, api_gateway=chat)
    out = run()
    ours = ApiGateway.objects.get(api_name="chat")
    rows = {s.connection_id: s for s in WebSocketSession.objects.all()}
    assert set(rows) == {"Aa1=", "Bb2=", "Cc3="}  # the closed one is not copied
    a = rows["Aa1="]
    # never the user: a stale row must not act as alice
    assert (a.user_id, a.login_binding, a.connected) == (None, "", True)
    assert (a.api_gateway_id, a.api_id, a.stage) == (ours.pk, "abc123", ours.stage_name)
    assert list(WebSocketSession.objects.filter(api_gateway=ours)) == [a]
    assert list(Subscription.objects.filter(session=a).values_list("channel", flat=True)) == [
        "lobby"
    ]
    # an api id with no ApiGateway row of ours, or no gateway at all: the key stays NULL
    assert (rows["Bb2="].api_gateway_id, rows["Bb2="].api_id) == (None, "zzz999")
    assert (rows["Cc3="].api_gateway_id, rows["Cc3="].api_id) == (None, "")
    assert "copied 3 connected session(s) as anonymous sessions (2 with no ApiGateway" in out


def test_a_rerun_copies_no_session_again_and_leaves_ours(gateways):
    chat, _ = gateways
    ref.WebSocketSession.objects.create(
        connection_id="Aa1=", channel_name="lobby", api_gateway=chat
    )
    ref.WebSocketSession.objects.create(connection_id="Live=", channel_name="x", api_gateway=chat)
    WebSocketSession.objects.create(connection_id="Live=", channel_name="mine")  # a live connect
    run()
    assert "copied 0 connected session(s)" in run()
    assert WebSocketSession.objects.count() == 2
    assert WebSocketSession.objects.get(connection_id="Live=").channel_name == "mine"
    assert Subscription.objects.count() == 1


def test_a_dry_run_copies_no_session(gateways):
    ref.WebSocketSession.objects.create(connection_id="Aa1=", api_gateway=gateways[0])
    assert "would copy 1 connected session(s)" in run("--dry-run")
    assert not WebSocketSession.objects.exists()


def test_hostile_rows_are_skipped_with_the_reason_and_the_rest_copied(gateways):
    chat, _ = gateways
    for cid in ("Dup=", "Dup=", "x" * 200, "has space", "", "ok-1"):
        ref.WebSocketSession.objects.create(connection_id=cid, api_gateway=chat)
    ref.WebSocketSession.objects.create(connection_id="ok-2", channel_name="a b", api_gateway=chat)
    ref.WebSocketSession.objects.create(connection_id="ok-3", channel_name="c" * 200)
    out = run()
    assert sorted(WebSocketSession.objects.values_list("connection_id", flat=True)) == [
        "Dup=",
        "ok-1",
    ]
    assert "skipped session 'Dup=': the connection id appears twice" in out
    assert out.count("not a connection id API Gateway issues") == 3
    assert out.count("is not a channel name") == 2


def test_a_large_table_is_read_and_written_in_batches(gateways):
    chat, _ = gateways
    ref.WebSocketSession.objects.bulk_create(
        ref.WebSocketSession(connection_id=f"C{i:05d}=", channel_name="lobby", api_gateway=chat)
        for i in range(1050)
    )
    with CaptureQueriesContext(connection) as queries:
        report = import_reference_data(batch_size=100)
    selects = [
        q["sql"]
        for q in queries.captured_queries
        if "django_aws_api_gateway_websockets_websocketsession" in q["sql"]
        and "ORDER BY" in q["sql"]
    ]
    assert len(selects) == 12  # 11 batches of at most 100, then the empty one that ends it
    assert all("LIMIT 100" in sql for sql in selects)
    assert WebSocketSession.objects.count() == 1050
    assert Subscription.objects.count() == 1050
    assert report.copied >= 1050
    assert import_reference_data(batch_size=100).copied == 0


@pytest.mark.parametrize("size", ["0", "-1", "x", "1000001"])
def test_a_bad_batch_size_is_refused(reference_tables, size):
    with pytest.raises(CommandError, match="whole number"):
        run("--batch-size", size)


def test_without_a_session_table_nothing_fails(reference_tables):
    ref_table = "django_aws_api_gateway_websockets_websocketsession"
    with connection.schema_editor() as editor:
        editor.delete_model(ref.WebSocketSession)
    try:
        assert f"no table {ref_table}" in run()
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(ref.WebSocketSession)
