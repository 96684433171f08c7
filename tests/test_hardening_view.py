"""Issue 10, the view's side: what a hostile audit found, each with the test that failed before.

Every rejection also checks the documented error code and that the database is unchanged.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache

from ws_routes import Router, WsError, security
from ws_routes.contract import valid_stage
from ws_routes.models import ConnectToken, WebSocketSession
from ws_routes.replies import MAX_REPLY_BYTES, error_response
from ws_routes.security import clean_source_ip, rate_limit_bucket
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db


def reply(response):
    return json.loads(response.content) if response.content else None


def db_state():
    return (
        sorted(WebSocketSession.objects.values_list("connection_id", "connected", "user_id")),
        sorted(ConnectToken.objects.values_list("token_hash", "expires_at")),
    )


hostile = Router(app_name="hardening")


@hostile.route("test.infinity")
def infinity(request, body):
    return {"x": float("inf")}


@hostile.route("test.deep_reply")
def deep_reply(request, body):
    value: list = []
    # Deeper than any json encoder's recursion guard: Python 3.13's C encoder takes 5,000 levels
    # (3.10-3.12's stop near 1,000), every version refuses 100,000.
    for _ in range(100_000):
        value = [value]
    return value


@hostile.route(
    "test.strict", schema={"type": "object", "additionalProperties": {"type": "integer"}}
)
def strict(request, body):
    return body


@hostile.route("test.big_error")
def big_error(request, body):
    raise WsError("big", "x" * 200_000, [{"n": i, "pad": "y" * 100} for i in range(5000)])


@pytest.fixture
def hostile_conn():
    with WsTestClient(hostile) as ws:
        conn = ws.connect()
        assert conn.accepted
        yield conn


@pytest.fixture(autouse=True)
def fresh_reports():
    security._reported_problems.clear()
    yield
    security._reported_problems.clear()


@pytest.fixture
def anon_conn(gateway):
    response = gateway.connect(query="channel=lobby")
    assert response.status_code == 200
    return response.connection_id


# -- 1, 2: GATEWAY_SECRETS fails closed at runtime ------------------------------------------------


@pytest.mark.parametrize(
    "configured, sent",
    [
        ("a-string-not-a-list-of-secrets-0123456789", "a"),  # each character was a secret
        ("a-string-not-a-list-of-secrets-0123456789", "a-string-not-a-list-of-secrets-0123456789"),
        ([None], "None"),  # an unset environment variable
        ([12345678], "12345678"),
        (["x"], "x"),  # one character
        (["short-secret"], "short-secret"),
        ([b"bytes-secret-0123456789-0123456789-abc"], "bytes-secret-0123456789-0123456789-abc"),
        (None, "None"),
        ({"secret": 1}, "secret"),
    ],
)
def test_malformed_secrets_setting_refuses_every_call(gateway, settings, configured, sent, caplog):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": configured}
    before = db_state()
    with caplog.at_level(logging.ERROR, logger="ws_routes"):
        first = gateway.connect(HTTP_X_WS_SECRET=sent)
        second = gateway.connect(HTTP_X_WS_SECRET=sent)
    assert (first.status_code, second.status_code) == (403, 403)
    assert reply(first)["error"]["code"] == "forbidden"
    assert db_state() == before
    problems = [r for r in caplog.records if "GATEWAY_SECRETS" in r.getMessage()]
    assert len(problems) == 1, "logged once, not on every call"
    assert "refused" in problems[0].getMessage()


def test_a_valid_list_still_works_after_a_bad_one(gateway, settings):
    good = settings.WS_ROUTES["GATEWAY_SECRETS"]
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": "x" * 40}
    assert gateway.connect().status_code == 403
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": good}
    assert gateway.connect().status_code == 200


def test_one_bad_entry_refuses_even_the_good_ones(gateway, settings):
    good = settings.WS_ROUTES["GATEWAY_SECRETS"][0]
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [good, None]}
    assert gateway.connect().status_code == 403


# -- 4, 5, 6, 7: messages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "echo", "n": 1e400}',
        b'{"action": "echo", "n": -1e400}',
        b'{"action": "echo", "n": [1, 2, 1E999]}',
        b'{"action": "echo", "n": NaN}',
        b'{"action": "echo", "n": Infinity}',
    ],
)
def test_non_finite_numbers_are_invalid_json(gateway, anon_conn, raw):
    before = db_state()
    response = gateway.message(anon_conn, raw)
    assert response.status_code == 400
    assert reply(response)["error"]["code"] == "invalid_json"
    assert b"Infinity" not in response.content and b"NaN" not in response.content
    assert reply(response)["action"] == "echo"  # the envelope is kept
    assert db_state() == before


def test_a_handler_returning_infinity_gets_internal_error_with_envelope(hostile_conn):
    response = hostile_conn.client.post(
        "MESSAGE", hostile_conn.connection_id, b'{"action": "test.infinity", "id": 9}'
    )
    assert response.status_code == 500
    assert b"Infinity" not in response.content  # json.loads would take it: check the bytes
    body = reply(response)
    assert body["action"] == "test.infinity" and body["id"] == 9
    assert body["error"]["code"] == "internal_error"


def test_deep_nesting_is_refused_while_parsing_with_the_envelope_kept(gateway, anon_conn):
    deep = "[" * 900 + "]" * 900
    raw = f'{{"action": "echo", "id": 5, "deep": {deep}}}'.encode()
    response = gateway.message(anon_conn, raw)
    assert response.status_code == 400
    body = reply(response)
    assert body["error"]["code"] == "invalid_json"
    assert (body["action"], body["id"]) == ("echo", 5)


def at_stack_depth(frames: int, call):
    """``call()`` run ``frames`` Python frames deeper than here (a view deep in middleware)."""
    if frames <= 0:
        return call()
    return at_stack_depth(frames - 1, call)


@pytest.mark.parametrize("depth", [300, 700, 950, 3000, 60000])
@pytest.mark.parametrize("frames", [0, 400, 800])
def test_the_envelope_of_a_too_deep_message_does_not_depend_on_the_stack(
    gateway, anon_conn, depth, frames
):
    # CI saw json.loads raise RecursionError for a body the test's own parse could read, and
    # the reply lost its action: the depth at which it fails depends on the caller's stack.
    deep = "[" * depth + "]" * depth
    raw = f'{{"action": "echo", "id": 6, "s": "[{{\\"]", "deep": {deep}}}'.encode()
    response = at_stack_depth(frames, lambda: gateway.message(anon_conn, raw))
    assert response.status_code == 400
    body = reply(response)
    assert body["error"]["code"] == "invalid_json"
    assert (body["action"], body["id"]) == ("echo", 6)


@pytest.mark.parametrize(
    "text",
    [
        '{"action": "echo", "deep": ' + "[" * 5000 + "]" * 4999 + "}",  # one bracket short
        '{"action": "echo", "deep": ' + "[" * 5000 + '"unterminated',
        '{"action": "echo", "deep": ' + "[" * 5000 + "]" * 5001 + "}",
    ],
)
def test_a_malformed_too_deep_message_is_invalid_json(gateway, anon_conn, text):
    response = at_stack_depth(800, lambda: gateway.message(anon_conn, text.encode()))
    assert response.status_code == 400
    assert reply(response)["error"]["code"] == "invalid_json"


def test_depth_limit_is_a_setting_and_the_boundary_is_exact(gateway, anon_conn, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MAX_JSON_DEPTH": 5}
    ok = '{"action": "echo", "d": [[[[1]]]]}'  # object + 4 lists = 5 levels
    too_deep = '{"action": "echo", "d": [[[[[1]]]]]}'
    assert gateway.message(anon_conn, ok.encode()).status_code == 200
    response = gateway.message(anon_conn, too_deep.encode())
    assert response.status_code == 400 and reply(response)["error"]["code"] == "invalid_json"


def test_default_depth_is_64(gateway, anon_conn):
    body = '{"action": "echo", "d": ' + "[" * 63 + "]" * 63 + "}"
    assert gateway.message(anon_conn, body.encode()).status_code == 200
    body = '{"action": "echo", "d": ' + "[" * 64 + "]" * 64 + "}"
    assert gateway.message(anon_conn, body.encode()).status_code == 400


def test_a_reply_nested_too_deep_to_encode_keeps_the_envelope(hostile_conn):
    answer = hostile_conn.send("test.deep_reply", id="d1")
    assert answer.status == 500
    body = answer.body
    assert (body["action"], body["id"], body["error"]["code"]) == (
        "test.deep_reply",
        "d1",
        "internal_error",
    )


def test_schema_error_paths_are_bounded(hostile_conn):
    keys = {f"k{i:03d}" + "x" * 6000: "not an integer" for i in range(20)}
    raw = json.dumps({"action": "test.strict", "id": 1, **keys}).encode()
    assert len(raw) > 120_000
    response = hostile_conn.client.post("MESSAGE", hostile_conn.connection_id, raw)
    assert response.status_code == 400
    body = reply(response)
    assert body["id"] == 1 and body["error"]["code"] == "invalid_message"
    assert len(response.content) < 20_000, "was 241 KB for a 120 KB request"
    for problem in body["error"]["details"]:
        assert len(problem["path"]) <= 512


def test_huge_error_details_from_a_handler_are_bounded(hostile_conn):
    response = hostile_conn.client.post(
        "MESSAGE", hostile_conn.connection_id, b'{"action": "test.big_error", "id": 2}'
    )
    assert response.status_code == 400
    assert len(response.content) <= MAX_REPLY_BYTES
    body = reply(response)
    assert body["id"] == 2 and body["error"]["code"] == "big"


def test_error_response_never_exceeds_the_reply_limit_whatever_it_is_given():
    for details in (["z" * 1000] * 1000, {"big": "q" * 500_000}, object(), float("nan")):
        response = error_response(WsError("c" * 10_000, "m" * 10**6, details), {"id": 1})
        assert len(response.content) <= MAX_REPLY_BYTES
        assert json.loads(response.content)["id"] == 1


@pytest.mark.parametrize(
    ("code", "message", "envelope"),
    [
        ("invalid_json", "The message is not valid UTF-8 JSON", {"action": None}),
        ("unknown_route", "No route for 'x'", {"action": "chat.send", "id": 7}),
        ("forbidden", "Only the gateway", None),
        ("c", "m" * (1024 - 1), {"id": "é\ud800"}),  # at the short path's limit; a surrogate
        ("c", "m" * 1024, {"id": 1}),  # one over: the general path, same bytes (under 128 KB)
        ("c" * 200, "m", {"action": "a" * 128}),  # a code over 64 characters is kept whole
    ],
)
def test_a_refusal_without_details_is_the_general_reply_byte_for_byte(code, message, envelope):
    """The short path of ``error_response`` (no details, short text) answers exactly what the
    general one does; past its limit the general one answers (it trims only over 128 KB)."""
    from ws_routes import replies

    got = error_response(WsError(code, message, status=403), envelope)
    expected = replies.encode_json(
        {**(envelope or {}), "error": {"code": code, "message": message, "details": None}}
    )
    assert got.status_code == 403 and got["Content-Type"] == "application/json"
    assert got.content == expected
    with_details = error_response(WsError(code, message, {"k": 1}, status=403), envelope)
    assert json.loads(with_details.content)["error"]["details"] == {"k": 1}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "echo", "x": "\xed\xa0\x80"}',  # an encoded surrogate
        '{"action": "echo"}'.encode("utf-16"),
        '{"action": "echo"}'.encode("utf-16-le"),
        '{"action": "echo"}'.encode("utf-32"),
        b'{"action": "echo", "x": "\xff"}',
        b'{"action": "echo", "x": "\xc0\xaf"}',  # overlong
    ],
)
def test_only_strict_utf8_is_json(gateway, anon_conn, raw):
    before = db_state()
    response = gateway.message(anon_conn, raw)
    assert response.status_code == 400
    assert reply(response)["error"]["code"] == "invalid_json"
    assert db_state() == before


def test_a_leading_utf8_bom_is_accepted(gateway, anon_conn):
    response = gateway.message(anon_conn, b'\xef\xbb\xbf{"action": "echo", "id": 3}')
    assert response.status_code == 200 and reply(response)["id"] == 3


# -- 8: connect rate limit ------------------------------------------------------------------------


@pytest.fixture
def limit_three(settings):
    cache.clear()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "CONNECT_RATE_LIMIT": (3, 60)}
    yield
    cache.clear()


@pytest.mark.parametrize("source", ["", "not-an-ip", "203.0.113.7,198.51.100.2", "1.2.3.4 5"])
def test_unknown_source_ips_share_one_bucket(gateway, limit_three, source):
    statuses = [gateway.connect(HTTP_X_WS_SOURCE_IP=source).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert reply(gateway.connect(HTTP_X_WS_SOURCE_IP="garbage"))["error"]["code"] == (
        "rate_limited"
    )
    assert WebSocketSession.objects.count() == 3


def test_ipv6_is_counted_per_slash_64(gateway, limit_three):
    sources = [f"2001:db8:1:2::{i:x}" for i in range(1, 6)]
    statuses = [gateway.connect(HTTP_X_WS_SOURCE_IP=ip).status_code for ip in sources]
    assert statuses == [200, 200, 200, 429, 429]
    assert gateway.connect(HTTP_X_WS_SOURCE_IP="2001:db8:1:3::1").status_code == 200


def test_ipv4_mapped_addresses_count_as_ipv4(gateway, limit_three):
    sources = ["1.2.3.4", "::ffff:1.2.3.4", "::FFFF:1.2.3.4", "1.2.3.4"]
    statuses = [gateway.connect(HTTP_X_WS_SOURCE_IP=ip).status_code for ip in sources]
    assert statuses == [200, 200, 200, 429]
    assert set(WebSocketSession.objects.values_list("source_ip", flat=True)) == {"1.2.3.4"}


def test_rate_limit_buckets():
    assert rate_limit_bucket(None) == rate_limit_bucket("x") == rate_limit_bucket("a,b")
    assert rate_limit_bucket("2001:db8::1") == rate_limit_bucket("2001:db8::ffff:1")
    assert rate_limit_bucket("2001:db8::1") != rate_limit_bucket("2001:db8:0:1::1")
    assert rate_limit_bucket("::ffff:10.0.0.1") == rate_limit_bucket("10.0.0.1") == "10.0.0.1"
    assert rate_limit_bucket("fe80::1%eth0") == "fe80::/64"
    assert clean_source_ip("::ffff:10.0.0.1") == "10.0.0.1"


# -- 9: tokens ------------------------------------------------------------------------------------


def test_a_token_survives_a_connect_refused_by_a_hook(gateway, alice):
    raw = ConnectToken.mint(alice)
    before = db_state()
    refused = gateway.connect(query=f"token={raw}&channel=forbidden")
    assert refused.status_code == 403 and reply(refused)["error"]["code"] == "connection_refused"
    assert db_state() == before
    crashed = gateway.connect(query=f"token={raw}&channel=crash")
    assert crashed.status_code == 500
    assert db_state() == before
    assert gateway.connect(query=f"token={raw}&channel=lobby").status_code == 200
    assert ConnectToken.objects.count() == 0
    assert gateway.connect(query=f"token={raw}").status_code == 401


def test_a_token_survives_a_refused_origin_or_channel(gateway, alice):
    raw = ConnectToken.mint(alice)
    before = db_state()
    assert gateway.connect(
        query=f"token={raw}", HTTP_ORIGIN="https://evil.example"
    ).status_code == (403)
    assert gateway.connect(query=f"token={raw}&channel=bad%20name").status_code == 400
    assert db_state() == before
    assert gateway.connect(query=f"token={raw}").status_code == 200


def test_the_mint_response_is_not_cacheable(client, alice):
    client.force_login(alice)
    response = client.post("/ws/token/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


# -- 10: stage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["..", ".", "...", "a/b", "a b", "x" * 129])
def test_dot_segment_stages_are_refused(gateway, stage):
    before = db_state()
    response = gateway.connect(HTTP_X_WS_STAGE=stage)
    assert response.status_code == 400
    assert reply(response)["error"]["code"] == "bad_request"
    assert db_state() == before


def test_valid_stage():
    assert valid_stage("production") and valid_stage("v1.2") and valid_stage("a-b_c")
    for bad in ("", ".", "..", "...", "a/b", "../x", None, 5, "x" * 129, "é"):
        assert not valid_stage(bad), bad
