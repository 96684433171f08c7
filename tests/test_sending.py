"""The management-API sender against a real loopback endpoint that checks every SigV4 signature.

Outcomes are scripted by connection id (see ``tests/fake_management_api.py``): ``gone-*`` 410,
``throttle{n}-*`` 429 n times, ``flaky{n}-*`` 500 n times, ``error-*`` 500, ``slow-*`` too slow,
``denied-*`` 403, anything else 200.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import os
import socket
import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from botocore.credentials import ReadOnlyCredentials
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as django_timezone

from tests.fake_management_api import FakeManagementApi
from ws_routes.models import WebSocketSession
from ws_routes.sending import (
    MAX_PAYLOAD_BYTES,
    HttpTransport,
    PayloadTooLarge,
    SendResult,
    asend_to_queryset,
    asend_to_sessions,
    delivery,
    disconnect_sessions,
    encode_payload,
    get_transport,
    management_endpoint,
    process,
    reset_sender,
    send_to_queryset,
    send_to_sessions,
)

pytestmark = pytest.mark.django_db

_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    """Known credentials, no config files, no proxies, no instance metadata; fresh sender."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_sender()
    yield
    reset_sender()


def _configure(settings, **values):
    settings.WS_ROUTES = {**settings.WS_ROUTES, **values}


@pytest.fixture
def api(settings):
    with FakeManagementApi(slow_seconds=1.0) as fake:
        _configure(
            settings,
            MANAGEMENT_ENDPOINT=fake.url + "/{api_id}/{stage}",
            SEND_TIMEOUT_SECONDS=0.3,
            SEND_BACKOFF_BASE_SECONDS=0.001,
            SEND_BACKOFF_MAX_SECONDS=0.004,
        )
        yield fake


#: When make_sessions' sessions connected: past the grace in which a 410 may only mean the
#: socket is still inside its $connect (sending/api.py CONNECT_GRACE).
ESTABLISHED = django_timezone.now() - datetime.timedelta(hours=1)


def make_sessions(
    *ids, channel="lobby", api_id="abc123", stage="prod", connected=True, connected_at=None
):
    return WebSocketSession.objects.bulk_create(
        WebSocketSession(
            connection_id=connection_id,
            channel_name=channel,
            api_id=api_id,
            stage=stage,
            connected=connected,
            connected_at=connected_at or ESTABLISHED,
        )
        for connection_id in ids
    )


def unsaved(*ids, api_id="abc123", stage="prod"):
    return [WebSocketSession(connection_id=i, api_id=api_id, stage=stage) for i in ids]


def lobby():
    return WebSocketSession.objects.filter(channel_name="lobby")


def disconnected_ids():
    return set(
        WebSocketSession.objects.filter(connected=False).values_list("connection_id", flat=True)
    )


# --------------------------------------------------------------------------------------------
# Accounting


def test_mixed_outcomes_count_every_recipient_once(api):
    make_sessions("ok-1", "ok-2=", "gone-1", "gone-2", "error-1", "denied-1", "throttle1-x")

    result = lobby().send({"n": 1})

    assert (result.delivered, result.gone, result.failed) == (3, 2, 2)
    assert result.total == 7
    assert sorted(result.gone_ids) == ["gone-1", "gone-2"]
    assert sorted(result.failed_ids) == ["denied-1", "error-1"]
    assert disconnected_ids() == {"gone-1", "gone-2"}
    assert WebSocketSession.objects.get(connection_id="gone-1").disconnected_at is not None
    assert all(r.signature_ok for r in api.received)
    assert {r.body for r in api.received} == {b'{"n":1}'}
    assert api.attempts["denied-1"] == 1  # a 403 is not retried
    assert api.attempts["gone-1"] == 1
    assert api.attempts["error-1"] == 4  # SEND_MAX_RETRIES defaults to 3
    assert sorted(api.answered(200)) == ["ok-1", "ok-2=", "throttle1-x"]


def test_send_result_total_and_sum():
    one = SendResult(delivered=2, gone=1, gone_ids=["g"])
    two = SendResult(failed=1, failed_ids=["f"])
    both = one + two
    assert (both.delivered, both.gone, both.failed, both.total) == (2, 1, 1, 4)
    assert both.gone_ids == ["g"] and both.failed_ids == ["f"]
    assert SendResult().total == 0


def test_throttled_post_is_retried_then_delivered(api):
    make_sessions("throttle2-a")
    result = lobby().send({"n": 1})
    assert (result.delivered, result.failed) == (1, 0)
    assert api.attempts["throttle2-a"] == 3


def test_throttling_beyond_the_retry_budget_fails(api, settings):
    _configure(settings, SEND_MAX_RETRIES=2)
    make_sessions("throttle9-a")
    result = lobby().send({"n": 1})
    assert result.failed_ids == ["throttle9-a"]
    assert api.attempts["throttle9-a"] == 3
    assert disconnected_ids() == set()  # a failure is not a disconnection


def test_server_errors_are_retried_then_counted_failed(api):
    make_sessions("error-a", "flaky2-b")
    result = lobby().send({"n": 1})
    assert (result.delivered, result.failed, result.failed_ids) == (1, 1, ["error-a"])
    assert api.attempts["error-a"] == 4
    assert api.attempts["flaky2-b"] == 3


def test_backoff_is_exponential_with_full_jitter_and_capped(api, settings, monkeypatch):
    _configure(
        settings, SEND_MAX_RETRIES=5, SEND_BACKOFF_BASE_SECONDS=0.001, SEND_BACKOFF_MAX_SECONDS=0.01
    )
    windows = []

    def uniform(low, high):
        windows.append((low, high))
        return 0.0

    monkeypatch.setattr(delivery.random, "uniform", uniform)
    make_sessions("error-a")
    lobby().send({"n": 1})
    assert windows == [(0, 0.001), (0, 0.002), (0, 0.004), (0, 0.008), (0, 0.01)]


def test_timeouts_are_retried_then_counted_failed(api, settings):
    _configure(settings, SEND_TIMEOUT_SECONDS=0.2, SEND_MAX_RETRIES=1)
    make_sessions("slow-a", "ok-b")
    started = time.monotonic()
    result = lobby().send({"n": 1})
    assert (result.delivered, result.failed_ids) == (1, ["slow-a"])
    assert api.attempts["slow-a"] == 2
    assert time.monotonic() - started < 1.0  # did not wait for the slow answers


def test_unreachable_endpoint_counts_failed(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _configure(
        settings,
        MANAGEMENT_ENDPOINT=f"http://127.0.0.1:{port}",
        SEND_MAX_RETRIES=1,
        SEND_BACKOFF_BASE_SECONDS=0.001,
    )
    make_sessions("a", "b")
    result = lobby().send({"n": 1})
    assert (result.delivered, result.failed) == (0, 2)
    assert disconnected_ids() == set()


# --------------------------------------------------------------------------------------------
# Payloads


def test_oversized_payload_raises_and_sends_nothing(api):
    make_sessions("ok-1")
    with pytest.raises(PayloadTooLarge) as raised:
        lobby().send({"text": "x" * MAX_PAYLOAD_BYTES})
    assert raised.value.size > MAX_PAYLOAD_BYTES
    assert "128 KiB" in str(raised.value)
    with pytest.raises(PayloadTooLarge):
        WebSocketSession.objects.get().send("x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLarge):  # counted in bytes: 2 bytes per "é"
        lobby().send("é" * (MAX_PAYLOAD_BYTES // 2))
    with pytest.raises(PayloadTooLarge):
        async_to_sync(lobby().asend)("x" * MAX_PAYLOAD_BYTES)
    assert api.received == []


def test_payload_of_exactly_the_limit_is_sent(api):
    make_sessions("ok-1")
    data = "x" * (MAX_PAYLOAD_BYTES - 2)  # plus two quotes
    assert len(encode_payload(data)) == MAX_PAYLOAD_BYTES
    assert lobby().send(data).delivered == 1
    assert len(api.received[0].body) == MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    "data",
    [{"s": {1, 2}}, object(), {"n": float("nan")}, [float("inf")], {b"k": 1}],
    ids=["set", "object", "nan", "infinity", "bytes-key"],
)
def test_data_that_is_not_json_raises_clearly_and_sends_nothing(api, data):
    make_sessions("ok-1")
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        lobby().send(data)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        WebSocketSession.objects.get().send(data)
    assert api.received == []


def test_circular_data_raises_type_error():
    loop = []
    loop.append(loop)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        encode_payload(loop)


def test_unicode_payload_is_sent_as_utf8(api):
    make_sessions("ok-1")
    data = {"text": "héllo 🌍 日本語", "emoji": "\U0001f600"}
    assert lobby().send(data).delivered == 1
    body = api.received[0].body
    assert json.loads(body.decode("utf-8")) == data
    assert "日本語".encode() in body  # not \\u-escaped: fewer bytes against the limit


def test_django_types_and_bytes_are_encoded(api):
    make_sessions("ok-1")
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    lobby().send({"at": datetime.date(2024, 1, 2), "d": decimal.Decimal("1.5"), "id": ident})
    lobby().send(b"\x00raw bytes")
    assert json.loads(api.received[0].body) == {"at": "2024-01-02", "d": "1.5", "id": str(ident)}
    assert api.received[1].body == b"\x00raw bytes"


# --------------------------------------------------------------------------------------------
# Database: one UPDATE, chunks, querysets


def test_gone_sessions_are_marked_in_one_update(api):
    make_sessions(*[f"ok-{i}" for i in range(13)], *[f"gone-{i}" for i in range(7)])
    with CaptureQueriesContext(connection) as queries:
        result = lobby().send({"n": 1})
    assert result.gone == 7
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert len(queries.captured_queries) == 2  # one SELECT (one short chunk), one UPDATE
    assert disconnected_ids() == {f"gone-{i}" for i in range(7)}


def test_no_update_when_nobody_is_gone(api):
    make_sessions("ok-1", "ok-2")
    with CaptureQueriesContext(connection) as queries:
        lobby().send({"n": 1})
    assert [q["sql"][:6] for q in queries.captured_queries] == ["SELECT"]


def test_queryset_is_read_in_chunks_of_the_setting(api, settings):
    _configure(settings, SEND_CHUNK_SIZE=10)
    make_sessions(*[f"ok-{i:02d}" for i in range(35)])
    make_sessions(*[f"off-{i}" for i in range(5)], connected=False)
    make_sessions(*[f"other-{i}" for i in range(5)], channel="elsewhere")

    with CaptureQueriesContext(connection) as queries:
        result = lobby().send({"n": 1})

    selects = [q["sql"] for q in queries.captured_queries]
    assert len(selects) == 4  # 10 + 10 + 10 + 5
    assert all(sql.startswith("SELECT") and "LIMIT 10" in sql for sql in selects)
    assert result.delivered == 35
    assert sorted(api.answered(200)) == [f"ok-{i:02d}" for i in range(35)]


class _PacedRecorder:
    """Answers 200 after a short pause, noting how many chunks had been read at each post."""

    def __init__(self, chunks_read):
        self.chunks_read = chunks_read
        self.seen = []

    def prepare(self):
        pass

    async def request(self, method, endpoint, connection_id, payload, timeout):
        self.seen.append(len(self.chunks_read))
        await asyncio.sleep(0.0005)
        return 200

    async def aclose(self):
        pass


def test_streaming_stays_at_most_two_chunks_ahead_of_the_posts(settings):
    _configure(settings, SEND_CHUNK_SIZE=20, SEND_CONCURRENCY=4, MANAGEMENT_ENDPOINT="http://h")
    make_sessions(*[f"c{i:04d}" for i in range(400)])
    chunks_read = []

    def count_selects(execute, sql, params, many, context):
        if sql.startswith("SELECT"):
            chunks_read.append(sql)
        return execute(sql, params, many, context)

    recorder = _PacedRecorder(chunks_read)
    with connection.execute_wrapper(count_selects):
        result = send_to_queryset(lobby(), {"n": 1}, transport=recorder)

    assert result.delivered == 400
    assert len(chunks_read) == 21  # 20 full chunks and the empty read that ends them
    # Post number k belongs to chunk k // 20; the reader is never more than 2 chunks ahead.
    ahead = [read - (k // 20 + 1) for k, read in enumerate(recorder.seen)]
    assert max(ahead) <= 2


def test_sliced_queryset_is_sent(api):
    make_sessions("ok-1", "ok-2", "ok-3", "ok-4")
    make_sessions("off-1", connected=False)
    result = lobby().order_by("-connection_id")[:3].send({"n": 1})
    assert result.delivered == 3
    assert sorted(api.answered(200)) == ["ok-2", "ok-3", "ok-4"]
    # The slice is taken first; a disconnected session inside it is skipped.
    result = lobby().order_by("connection_id")[:3].send({"n": 2})
    assert result.delivered == 2
    assert "off-1" not in api.answered(200)


def test_empty_queryset_sends_nothing(api):
    make_sessions("off-1", connected=False)
    with CaptureQueriesContext(connection) as queries:
        result = lobby().send({"n": 1})
    assert result == SendResult()
    assert len(queries.captured_queries) == 1
    assert send_to_sessions([], {"n": 1}) == SendResult()
    assert disconnect_sessions(WebSocketSession.objects.none()) == 0
    assert api.received == []


def test_send_to_queryset_refuses_other_iterables(api):
    with pytest.raises(TypeError, match="QuerySet"):
        send_to_queryset(unsaved("ok-1"), {"n": 1})


# --------------------------------------------------------------------------------------------
# Model API


def test_session_send_and_seed_aliases(api):
    (gone,) = make_sessions("gone-1")
    ok = make_sessions("ok-1", channel="other")[0]
    assert ok.send({"n": 1}).delivered == 1
    assert ok.send_message({"n": 2}).delivered == 1
    result = gone.send({"n": 3})
    assert result.gone_ids == ["gone-1"]
    assert gone.connected is False  # the instance too, not only the row
    assert (
        WebSocketSession.objects.filter(channel_name="other").send_message({"n": 4}).delivered == 1
    )
    assert [json.loads(r.body)["n"] for r in api.received] == [1, 2, 3, 4]


def test_channel_members_send(api):
    me, _ = make_sessions("ok-me", "ok-you")
    make_sessions("ok-elsewhere", channel="other")
    assert me.channel_members().send({"n": 1}).delivered == 2


def test_sessions_across_two_gateways_and_stages(api):
    make_sessions("ok-1", api_id="abc123", stage="prod")
    make_sessions("ok-2", api_id="abc123", stage="dev")
    make_sessions("ok-3", api_id="xyz789", stage="prod")
    assert lobby().send({"n": 1}).delivered == 3
    assert sorted(r.raw_path for r in api.received) == [
        "/abc123/dev/@connections/ok-2",
        "/abc123/prod/@connections/ok-1",
        "/xyz789/prod/@connections/ok-3",
    ]


def test_sessions_without_a_usable_endpoint_fail_alone(api):
    make_sessions("ok-1")
    make_sessions("bad-api", api_id="evil.example.com/x")
    make_sessions("no-stage", stage="")
    result = lobby().send({"n": 1})
    assert (result.delivered, sorted(result.failed_ids)) == (1, ["bad-api", "no-stage"])
    assert [r.connection_id for r in api.received] == ["ok-1"]


def test_hostile_connection_ids_are_encoded_or_refused(api):
    hostile = "a/b?c#d%2e../@connections/x"
    result = send_to_sessions(unsaved(hostile, "..", ".", "bad\nid", "x" * 129, ""), {"n": 1})
    assert result.delivered == 1
    assert sorted(result.failed_ids) == sorted(["..", ".", "bad\nid", "x" * 129, ""])
    (received,) = api.received
    assert received.connection_id == hostile
    assert received.raw_path.startswith("/abc123/prod/@connections/a%2Fb%3Fc%23d%252e")
    assert received.signature_ok


# --------------------------------------------------------------------------------------------
# on_commit


def test_on_commit_waits_for_the_commit(api, django_capture_on_commit_callbacks):
    make_sessions("ok-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        result = lobby().send({"n": 1}, on_commit=True)
        session_result = WebSocketSession.objects.get().send({"n": 2}, on_commit=True)
        assert result.deferred and session_result.deferred
        assert result.total == 0
        assert api.received == []
    assert len(callbacks) == 2
    assert [json.loads(r.body)["n"] for r in api.received] == [1, 2]


def test_on_commit_send_is_dropped_on_rollback(api, django_capture_on_commit_callbacks):
    make_sessions("ok-1")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        lobby().send({"n": 1}, on_commit=True)
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert api.received == []


def test_on_commit_validates_before_deferring(api, django_capture_on_commit_callbacks):
    make_sessions("ok-1")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(PayloadTooLarge):
        lobby().send("x" * MAX_PAYLOAD_BYTES, on_commit=True)
    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_on_commit_outside_a_transaction_sends_now(api):
    make_sessions("ok-1")
    result = lobby().send({"n": 1}, on_commit=True)
    assert (result.deferred, result.delivered) == (False, 1)


# --------------------------------------------------------------------------------------------
# Async


def test_async_api(api):
    session, _ = make_sessions("ok-1", "gone-1")

    async def scenario():
        one = await session.asend({"n": 1})
        channel = await lobby().asend({"n": 2})
        listed = await asend_to_sessions(unsaved("ok-9"), {"n": 3})
        streamed = await asend_to_queryset(lobby(), {"n": 4})
        return one, channel, listed, streamed

    one, channel, listed, streamed = async_to_sync(scenario)()
    assert one.delivered == 1
    assert (channel.delivered, channel.gone_ids) == (1, ["gone-1"])
    assert listed.delivered == 1
    assert (streamed.delivered, streamed.gone) == (1, 0)  # gone-1 is disconnected now
    assert disconnected_ids() == {"gone-1"}


def test_async_senders_run_concurrently(settings):
    with FakeManagementApi(latency=0.2) as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=fake.url)

        async def scenario():
            return await asyncio.gather(
                *(asend_to_sessions(unsaved(f"ok-{i}"), {"n": i}) for i in range(5))
            )

        results = asyncio.run(scenario())
    assert [r.delivered for r in results] == [1] * 5
    # All five 0.2 s posts were in flight at once (counted by the server, not timed: a loaded
    # machine stretches wall time, never the overlap).
    assert fake.max_in_flight == 5


# --------------------------------------------------------------------------------------------
# Concurrency, limits, threads, fork


def test_concurrent_senders_from_several_threads(api, settings):
    # A timed-out post is retried and may then arrive twice: no timeouts under this load.
    _configure(settings, SEND_TIMEOUT_SECONDS=10.0)
    errors = []
    results = {}

    def sender(index):
        try:
            sessions = unsaved(*[f"t{index}-{n}" for n in range(25)])
            results[index] = [send_to_sessions(sessions, {"thread": index}) for _ in range(3)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert all(r.delivered == 25 for rs in results.values() for r in rs)
    assert len(api.received) == 8 * 25 * 3
    for r in api.received:
        assert json.loads(r.body)["thread"] == int(r.connection_id[1 : r.connection_id.index("-")])


@pytest.mark.django_db(transaction=True)
def test_concurrent_queryset_senders_from_threads(api, settings):
    _configure(settings, SEND_TIMEOUT_SECONDS=10.0)
    for index in range(4):
        make_sessions(*[f"q{index}-{n}" for n in range(30)], f"gone-q{index}", channel=f"c{index}")
    results = {}

    def sender(index):
        try:
            results[index] = WebSocketSession.objects.filter(channel_name=f"c{index}").send({})
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [(results[i].delivered, results[i].gone) for i in range(4)] == [(30, 1)] * 4
    assert disconnected_ids() == {f"gone-q{i}" for i in range(4)}


def test_concurrency_is_bounded_by_the_setting(settings):
    with FakeManagementApi(latency=0.02) as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=fake.url, SEND_CONCURRENCY=5)
        result = send_to_sessions(unsaved(*[f"ok-{i}" for i in range(40)]), {"n": 1})
    assert result.delivered == 40
    assert fake.max_in_flight == 5


def test_send_from_the_sender_thread_is_refused(api):
    loop = process.sender_loop()

    async def inside():
        return send_to_sessions(unsaved("ok-1"), {"n": 1})

    with pytest.raises(RuntimeError, match="own event loop"):
        asyncio.run_coroutine_threadsafe(inside(), loop).result(timeout=5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sending_works_in_a_forked_child(api):
    # The loop thread is running and both transports hold open keep-alive connections.
    configured = HttpTransport()  # as if given in WS_ROUTES["SEND_TRANSPORT"]
    assert send_to_sessions(unsaved("ok-parent"), {"n": 1}).delivered == 1
    assert send_to_sessions(unsaved("ok-parent-2"), {}, transport=configured).delivered == 1
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            first = send_to_sessions(unsaved("ok-child"), {"n": 2})
            second = send_to_sessions(unsaved("ok-child-2"), {}, transport=configured)
            code = 0 if (first.delivered, second.delivered) == (1, 1) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connections were left alone by the child: they still work.
    assert send_to_sessions(unsaved("ok-parent-again"), {"n": 3}).delivered == 1
    assert send_to_sessions(unsaved("ok-parent-3"), {}, transport=configured).delivered == 1
    assert api.answered(200) == [
        "ok-parent",
        "ok-parent-2",
        "ok-child",
        "ok-child-2",
        "ok-parent-again",
        "ok-parent-3",
    ]
    async_to_sync(configured.aclose)()


# --------------------------------------------------------------------------------------------
# Endpoints, regions, credentials


def test_management_endpoint_default_and_override(settings):
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    assert (
        management_endpoint("abc123", "prod", "eu-west-2")
        == "https://abc123.execute-api.eu-west-2.amazonaws.com/prod"
    )
    _configure(settings, MANAGEMENT_ENDPOINT="http://127.0.0.1:8001/{api_id}/{stage}/{region}/")
    assert (
        management_endpoint("abc123", "dev", "us-east-1")
        == "http://127.0.0.1:8001/abc123/dev/us-east-1"
    )
    _configure(settings, MANAGEMENT_ENDPOINT="http://127.0.0.1:8001")
    assert management_endpoint("", "", None) == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    "api_id, stage",
    [("evil.com/x", "prod"), ("a@b", "prod"), ("", "prod"), ("abc", "p/../x"), ("abc", "")],
)
def test_management_endpoint_refuses_values_that_change_the_url(settings, api_id, stage):
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    with pytest.raises(ValueError):
        management_endpoint(api_id, stage, "eu-west-2")


def test_region_comes_from_boto3_chain_when_not_set(api, settings, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    _configure(settings, REGION=None, MANAGEMENT_ENDPOINT=api.url + "/{region}")
    reset_sender()
    assert send_to_sessions(unsaved("ok-1"), {"n": 1}).delivered == 1
    assert api.received[0].raw_path == "/ap-south-1/@connections/ok-1"
    assert api.received[0].region == "ap-south-1"


def test_missing_region_raises_before_sending(settings):
    from django.core.exceptions import ImproperlyConfigured

    _configure(settings, REGION=None, MANAGEMENT_ENDPOINT=None)
    reset_sender()
    with pytest.raises(ImproperlyConfigured, match="region"):
        send_to_sessions(unsaved("ok-1"), {"n": 1})


def test_temporary_credentials_are_signed_with_their_token(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMPORARY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temporary-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token/with+chars=")
    reset_sender()
    credentials = ("ASIATEMPORARY", "temporary-secret", "session-token/with+chars=")
    with FakeManagementApi(credentials=credentials) as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=fake.url)
        assert send_to_sessions(unsaved("ok-1"), {"n": 1}).delivered == 1
    assert fake.received[0].signature_ok


def test_credentials_are_reread_when_they_change(settings):
    current = {"key": ReadOnlyCredentials("AKIDONE", "secret-one", None)}
    transport = HttpTransport(credentials=lambda: current["key"])
    transport.credentials_ttl = 0.0
    with FakeManagementApi(credentials=("AKIDONE", "secret-one", None)) as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=fake.url, SEND_MAX_RETRIES=0)
        assert send_to_sessions(unsaved("ok-1"), {}, transport=transport).delivered == 1
        fake.credentials = ("AKIDTWO", "secret-two", "token-two")
        current["key"] = ReadOnlyCredentials("AKIDTWO", "secret-two", "token-two")
        assert send_to_sessions(unsaved("ok-2"), {}, transport=transport).delivered == 1
        # A transport that has not re-read them signs with the old ones: refused.
        stale = HttpTransport(
            credentials=lambda: ReadOnlyCredentials("AKIDONE", "secret-one", None)
        )
        assert send_to_sessions(unsaved("ok-3"), {}, transport=stale).failed == 1
    assert [r.status for r in fake.received] == [200, 200, 403]
    async_to_sync(transport.aclose)()
    async_to_sync(stale.aclose)()


def test_local_endpoint_without_credentials_is_unsigned(settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    reset_sender()
    with FakeManagementApi(credentials=None) as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=fake.url)
        assert send_to_sessions(unsaved("ok-1"), {"n": 1}).delivered == 1
    assert fake.received[0].signature_ok


def test_aws_endpoint_without_credentials_fails_without_sending(settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _configure(settings, MANAGEMENT_ENDPOINT=None)
    reset_sender()
    result = send_to_sessions(unsaved("ok-1"), {"n": 1})
    assert result.failed_ids == ["ok-1"]


def test_proxy_is_reported_not_bypassed(settings, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    _configure(settings, MANAGEMENT_ENDPOINT=None, SEND_MAX_RETRIES=3)
    reset_sender()
    result = send_to_sessions(unsaved("ok-1"), {"n": 1})
    assert result.failed_ids == ["ok-1"]


# --------------------------------------------------------------------------------------------
# disconnect_sessions


def test_disconnect_sessions_deletes_and_marks(api):
    make_sessions("ok-1", "ok-2", "gone-1", "error-1")
    closed = disconnect_sessions(lobby())
    assert closed == 3
    assert {r.method for r in api.received} == {"DELETE"}
    assert {r.body for r in api.received} == {b""}
    assert all(r.signature_ok for r in api.received)
    assert disconnected_ids() == {"ok-1", "ok-2", "gone-1"}


def test_disconnect_session_instances(api):
    sessions = make_sessions("ok-1", "error-1")
    with CaptureQueriesContext(connection) as queries:
        assert disconnect_sessions(sessions) == 1
    assert len(queries.captured_queries) == 1  # the UPDATE
    assert [s.connected for s in sessions] == [False, True]


# --------------------------------------------------------------------------------------------
# Transport setting


class Recorder:
    def __init__(self):
        self.posts = []

    def prepare(self):
        pass

    async def request(self, method, endpoint, connection_id, payload, timeout):
        self.posts.append((method, endpoint.url, connection_id, payload.body))
        return 410 if connection_id.startswith("gone") else 200

    async def aclose(self):
        pass


def test_transport_setting_accepts_an_instance(settings):
    recorder = Recorder()
    _configure(settings, SEND_TRANSPORT=recorder, MANAGEMENT_ENDPOINT=None)
    make_sessions("a", "gone-b")
    result = lobby().send({"n": 1})
    assert (result.delivered, result.gone) == (1, 1)
    assert sorted(recorder.posts) == [
        ("POST", "https://abc123.execute-api.eu-west-2.amazonaws.com/prod", "a", b'{"n":1}'),
        ("POST", "https://abc123.execute-api.eu-west-2.amazonaws.com/prod", "gone-b", b'{"n":1}'),
    ]


def test_transport_setting_accepts_a_dotted_path_once_per_process(settings):
    _configure(settings, SEND_TRANSPORT="ws_routes.sending.Boto3Transport")
    first = get_transport()
    assert type(first).__name__ == "Boto3Transport"
    assert get_transport() is first


def test_transport_setting_refuses_other_objects(settings):
    from django.core.exceptions import ImproperlyConfigured

    _configure(settings, SEND_TRANSPORT=object())
    with pytest.raises(ImproperlyConfigured, match="SEND_TRANSPORT"):
        send_to_sessions(unsaved("a"), {})


def test_a_broken_transport_fails_its_recipients_not_the_send(settings):
    class Broken(Recorder):
        async def request(self, *args):
            raise KeyError("bug")

    _configure(settings, MANAGEMENT_ENDPOINT="http://h")
    result = send_to_sessions(unsaved("a", "b"), {}, transport=Broken())
    assert (result.failed, sorted(result.failed_ids)) == (2, ["a", "b"])


def test_signatures_pass_the_local_gateways_own_verifier(settings, monkeypatch):
    """An independent SigV4 check: the local gateway answers 410 (unknown connection) to a
    correctly signed post and 403 to a wrongly signed one."""
    from ws_routes.local_gateway import LocalGateway

    gateway = LocalGateway(
        "http://127.0.0.1:9/unused",
        secret="gateway-test-secret-0123456789abcdef",
        management_credentials={"AKIDLOCAL": "local-secret"},
    ).start()
    try:
        _configure(settings, MANAGEMENT_ENDPOINT=gateway.management_endpoint, SEND_MAX_RETRIES=0)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
        reset_sender()
        signed = send_to_sessions(unsaved("JC1dgf9yoAMCK-g=", "a/b c"), {"n": 1})
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        reset_sender()
        forged = send_to_sessions(unsaved("JC1dgf9yoAMCK-g="), {"n": 1})
    finally:
        reset_sender()
        gateway.stop()
    assert (signed.gone, signed.failed) == (2, 0)
    assert (forged.gone, forged.failed) == (0, 1)


def test_a_410_inside_the_connect_grace_is_counted_gone_but_not_marked(api):
    # The soak found it: a presence push reached a socket still inside its $connect; API
    # Gateway (and the local gateway) answer 410 until $connect returned, and the session was
    # marked disconnected for good although its socket opened a moment later.
    (connecting,) = make_sessions("gone-connecting", connected_at=django_timezone.now())
    (established,) = make_sessions("gone-established")
    result = lobby().send({"n": 1})
    assert result.gone == 2 and sorted(result.gone_ids) == ["gone-connecting", "gone-established"]
    assert disconnected_ids() == {"gone-established"}
    assert connecting.send({"n": 2}).gone == 1
    connecting.refresh_from_db()
    assert connecting.connected is True  # the instance is not marked either


def test_after_the_grace_a_410_marks_the_session(api, monkeypatch):
    from ws_routes.sending import api as sending_api

    make_sessions("gone-young", connected_at=django_timezone.now() - datetime.timedelta(seconds=5))
    monkeypatch.setattr(sending_api, "CONNECT_GRACE", datetime.timedelta(seconds=4))
    assert lobby().send({"n": 1}).gone == 1
    assert disconnected_ids() == {"gone-young"}
