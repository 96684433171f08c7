"""A background broadcast's recipients are data, never code (issue 19, item 1).

The ``Broadcast`` row is readable and writable by whoever reaches the database; what a worker
rebuilds from it must only be able to select sessions. These tests pin: the description of
every queryset the library builds round-trips exactly; querysets it cannot describe refuse at
``send(background=True)``; a hostile or stale row is refused on read (the broadcast fails, with
a reason, and nothing is sent); the migration from the pickled column never unpickles; and no
``pickle``/``marshal``/``eval`` is left in the package.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import JSONField, Q, Value

from tests.background_support import eager_celery, make_sessions
from tests.fake_management_api import FakeManagementApi
from ws_routes.broadcasting import runner
from ws_routes.broadcasting.enqueue import enqueue_broadcast
from ws_routes.broadcasting.recipients import (
    MAX_VALUES,
    InvalidRecipients,
    describe,
    recipients_from,
    validate,
)
from ws_routes.broadcasting.shards import CannotShard
from ws_routes.channels import Channel, send_to_user
from ws_routes.models import Broadcast, WebSocketSession
from ws_routes.sending import reset_sender

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_sender()
    with FakeManagementApi() as fake:
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": fake.url + "/{api_id}/{stage}",
            "BACKGROUND_SHARD_SIZE": 10,
            "BACKGROUND_INLINE_MAX": 0,
        }
        yield fake
    reset_sender()


def sessions():
    return WebSocketSession.objects.all()


def described_querysets(user_ids):
    return [
        sessions(),
        sessions().filter(channel_name="lobby"),
        WebSocketSession.objects.in_channel("lobby"),
        Channel("lobby").subscribers(),
        sessions().filter(user_id=user_ids[0]),
        sessions().filter(user_id__in=user_ids),
        sessions().filter(connection_id__in=["a0000001=", "a0000003=", "nobody"]),
        sessions().filter(api_id="abc123", stage="prod", connected=True),
        sessions().filter(pk__gte=2, pk__lte=7),
        sessions().filter(Q(channel_name="lobby") & Q(connected=True)),
        sessions().filter(user__isnull=True),
        WebSocketSession.objects.get(connection_id="a0000002=").channel_members(),
    ]


@pytest.mark.django_db
def test_every_queryset_the_library_builds_round_trips_exactly():
    users = [get_user_model().objects.create(username=f"u{n}") for n in range(2)]
    make_sessions(6, prefix="a")
    make_sessions(3, prefix="b", channel="kitchen")
    WebSocketSession.objects.filter(connection_id__startswith="b").update(user=users[1])
    WebSocketSession.objects.filter(connection_id="a0000001=").update(user=users[0])
    ids = [user.pk for user in users]
    for queryset in [*described_querysets(ids), sessions().filter(user=users[0])]:
        description = describe(queryset)
        assert description["version"] == 1
        rebuilt = recipients_from(description, "default")
        assert sorted(rebuilt.values_list("pk", flat=True)) == sorted(
            queryset.values_list("pk", flat=True)
        ), queryset.query


@pytest.mark.django_db
@pytest.mark.parametrize(
    "queryset",
    [
        lambda: sessions().exclude(channel_name="lobby"),
        lambda: sessions().filter(Q(channel_name="a") | Q(channel_name="b")),
        lambda: sessions().filter(~Q(channel_name="a")),
        lambda: sessions().filter(user__is_active=True),
        lambda: sessions().filter(user__username__startswith="a"),
        lambda: sessions().filter(channel_name__regex="^a"),
        lambda: sessions().filter(pk__in=sessions().filter(channel_name="a").values("pk")),
        lambda: sessions().filter(connected_at__isnull=False),
        lambda: sessions().annotate(n=__import__("django").db.models.Count("pk")).filter(n=1),
        lambda: sessions().extra(where=["1=1"]),
        lambda: WebSocketSession.objects.in_channel("a").filter(subscriptions__channel="b"),
        lambda: sessions().none(),
    ],
)
def test_a_queryset_that_cannot_be_described_refuses_at_send_naming_what_is_supported(
    api, queryset
):
    with eager_celery(), pytest.raises(CannotShard, match="background sends take querysets"):
        queryset().send({"n": 1}, background=True)
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_send_to_user_in_the_background_goes_to_that_user_only(api):
    alice, bob = (get_user_model().objects.create(username=n) for n in ("alice", "bob"))
    make_sessions(3, prefix="alice")
    make_sessions(2, prefix="bob")
    WebSocketSession.objects.filter(connection_id__startswith="alice").update(user=alice)
    WebSocketSession.objects.filter(connection_id__startswith="bob").update(user=bob)
    with eager_celery():
        broadcast = send_to_user(alice, {"n": 1}, background=True)
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.delivered) == (Broadcast.State.FINISHED, 3)
    assert {r.connection_id[:5] for r in api.received} == {"alice"}


class Boom:
    """What an attacker writes into the old column: unpickling it runs ``touch``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


HOSTILE_RECIPIENTS = [
    {},
    [],
    "all",
    None,
    {"version": 2, "conditions": []},
    {"version": "1", "conditions": []},
    {"version": True, "conditions": []},
    {"version": 1, "conditions": [], "sql": "DROP TABLE x"},
    {"version": 1, "conditions": {"field": "pk"}},
    {"version": 1, "conditions": [{"field": "user__password", "lookup": "exact", "value": "x"}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "regex", "value": ".*"}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "gte", "value": {"a": 1}}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "gte", "value": 1.5}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "in", "value": 3}]},
    {
        "version": 1,
        "conditions": [{"field": "pk", "lookup": "in", "value": [0] * (MAX_VALUES + 1)}],
    },
    {"version": 1, "conditions": [{"field": "stage", "lookup": "exact", "value": "x" * 5000}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "exact"}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "exact", "value": 1}] * 33},
    {"version": 1, "conditions": [{"field": ["pk"], "lookup": "exact", "value": 1}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "isnull", "value": 0}]},
]
# Of the right shape, but a value Django cannot convert for that field: it raised in the worker
# (and in the admin's cancel) instead of failing the broadcast with a reason.
WRONG_TYPES = [
    {"version": 1, "conditions": [{"field": "pk", "lookup": "exact", "value": "abc"}]},
    {"version": 1, "conditions": [{"field": "pk", "lookup": "gte", "value": True}]},
    {"version": 1, "conditions": [{"field": "connected", "lookup": "exact", "value": "yes"}]},
    {"version": 1, "conditions": [{"field": "user_id", "lookup": "in", "value": ["x", 1]}]},
    {"version": 1, "conditions": [{"field": "user_id", "lookup": "exact", "value": None}]},
    {"version": 1, "conditions": [{"field": "stage", "lookup": "exact", "value": 7}]},
    {"version": 1, "conditions": [{"field": "connection_id", "lookup": "in", "value": [None]}]},
]


@pytest.mark.parametrize("description", HOSTILE_RECIPIENTS + WRONG_TYPES)
def test_a_hostile_description_never_validates(description):
    with pytest.raises(InvalidRecipients):
        validate(description)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row",
    [
        *({"recipients": hostile} for hostile in HOSTILE_RECIPIENTS[:12] + WRONG_TYPES),
        {"recipients_model": "auth.user"},
        {"recipients_db": "elsewhere"},
    ],
)
def test_a_written_row_that_does_not_validate_fails_the_broadcast_and_sends_nothing(api, row):
    make_sessions(25)
    broadcast = enqueue_broadcast(sessions(), {"n": 1}, publish=False)
    if "recipients" in row and row["recipients"] is None:  # JSON null, not SQL NULL
        row = {"recipients": Value(None, JSONField())}
    Broadcast.objects.filter(pk=broadcast.pk).update(**row)
    assert runner.start_broadcast(broadcast.pk) == []
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FAILED
    assert "invalid recipients" in broadcast.error
    assert not api.received
    # Staff cancelling it in the web process read the row too: refused the same way.
    broadcast.cancel()


@pytest.mark.django_db
@pytest.mark.parametrize("hostile", WRONG_TYPES[:3])
def test_cancelling_a_row_with_a_wrong_typed_value_does_not_raise_in_the_web_process(api, hostile):
    make_sessions(5)
    broadcast = enqueue_broadcast(sessions(), {"n": 1}, publish=False)
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients=hostile)
    broadcast.refresh_from_db()
    assert broadcast.cancel() == 0
    assert broadcast.state == Broadcast.State.CANCELLED


@pytest.mark.django_db
def test_values_are_described_as_the_field_converts_them():
    make_sessions(4)
    first = WebSocketSession.objects.order_by("pk").first()
    assert first is not None
    for queryset, value in [
        (sessions().filter(pk=str(first.pk)), first.pk),
        (sessions().filter(user_id__in=[None, 5, 3]), [3, 5]),
        (sessions().filter(connected=1), True),
    ]:
        (condition,) = describe(queryset)["conditions"]
        assert condition["value"] == value
        assert sorted(recipients_from(describe(queryset), "default").values_list("pk")) == sorted(
            queryset.values_list("pk")
        )


@pytest.mark.django_db
@pytest.mark.parametrize("written", ["pickle", "not json {", '"gASVdAAAAAAAAACMBHBhdGg="'])
def test_a_pickle_blob_written_with_sql_is_refused_by_the_column_or_on_read(api, written, tmp_path):
    marker = tmp_path / "unpickled"
    make_sessions(5)
    broadcast = enqueue_broadcast(sessions(), {"n": 1}, publish=False)
    value = pickle.dumps(Boom(marker)) if written == "pickle" else written
    table = connection.ops.quote_name(Broadcast._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            sql = f"UPDATE {table} SET recipients = %s WHERE id = %s"
            cursor.execute(sql, [value, broadcast.pk])
    except DatabaseError:  # the JSON column takes no bytes and no invalid JSON: row unchanged
        assert Broadcast.objects.get(pk=broadcast.pk).recipients == broadcast.recipients
        assert written != '"gASVdAAAAAAAAACMBHBhdGg="'
        return
    # Stored (valid JSON, but a string, not a description): refused on read, with a reason.
    assert runner.start_broadcast(broadcast.pk) == []
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FAILED and "invalid recipients" in broadcast.error
    assert not marker.exists() and not api.received


@pytest.mark.django_db
def test_a_row_changed_under_a_running_broadcast_fails_its_shards_without_sending(api):
    make_sessions(25)
    broadcast = enqueue_broadcast(sessions(), {"n": 1}, publish=False)
    shard_ids = runner.start_broadcast(broadcast.pk)
    assert shard_ids
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients={"version": 9, "conditions": []})
    for shard_id in shard_ids:
        assert runner.run_shard(shard_id).failed
    broadcast.refresh_from_db()
    assert broadcast.state == Broadcast.State.FAILED and broadcast.failed == 25
    assert not api.received


@pytest.mark.django_db
def test_cancelling_an_uncounted_broadcast_with_a_hostile_row_does_not_run_it(api):
    make_sessions(5)
    broadcast = enqueue_broadcast(sessions(), {"n": 1}, publish=False)
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients={"version": 1, "conditions": 3})
    broadcast.refresh_from_db()
    assert broadcast.cancel() == 0
    assert broadcast.state == Broadcast.State.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_the_migration_fails_broadcasts_in_flight_and_never_unpickles_them(tmp_path):
    marker = tmp_path / "unpickled"
    executor = MigrationExecutor(connection)
    executor.migrate([("ws_routes", "0006_broadcast_counted_by_worker")])
    old = (
        MigrationExecutor(connection)
        .loader.project_state([("ws_routes", "0006_broadcast_counted_by_worker")])
        .apps
    )
    OldBroadcast = old.get_model("ws_routes", "Broadcast")
    OldShard = old.get_model("ws_routes", "BroadcastShard")
    blob = pickle.dumps(Boom(marker))
    common = {"payload": b"{}", "recipients_model": "ws_routes.websocketsession"}
    done = OldBroadcast.objects.create(
        **common, recipients_query=blob, state="finished", total=4, delivered=4
    )
    uncounted = OldBroadcast.objects.create(**common, recipients_query=blob, state="enqueued")
    running = OldBroadcast.objects.create(
        **common,
        recipients_query=blob,
        state="running",
        total=30,
        delivered=10,
        shards_total=3,
        pending_shards=2,
    )
    OldShard.objects.create(
        broadcast_id=running.pk,
        index=0,
        first_pk=1,
        last_pk=9,
        expected=10,
        state="done",
        delivered=10,
    )
    for index in (1, 2):
        OldShard.objects.create(
            broadcast_id=running.pk,
            index=index,
            first_pk=10 * index,
            last_pk=10 * index + 9,
            expected=10,
            state="pending",
        )
    try:
        MigrationExecutor(connection).migrate([("ws_routes", "0007_broadcast_recipients_json")])
        assert not marker.exists()
        rows = {b.pk: b for b in Broadcast.objects.all()}
        assert rows[done.pk].state == "finished" and rows[done.pk].delivered == 4
        for pk in (uncounted.pk, running.pk):
            assert rows[pk].state == "failed" and "pickled" in rows[pk].error
        assert rows[running.pk].failed == 20 and rows[running.pk].pending_shards == 0
        assert rows[running.pk].accounted == rows[running.pk].total
        assert rows[uncounted.pk].total == 0
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
    assert not marker.exists()


# Whole words, so that import_module("pickle") or a shelve is caught too ("pickled" is prose).
CODE_FROM_DATA = re.compile(
    r"\b(pickle|cPickle|marshal|shelve|dill|jsonpickle)\b|\b(eval|exec|__import__)\s*\("
)


def test_no_pickle_marshal_or_eval_anywhere_in_the_package():
    hits = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for folder in ("ws_routes", "contrib_admin")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for match in CODE_FROM_DATA.finditer(path.read_text())
    ]
    assert not hits, hits
