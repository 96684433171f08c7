"""What a message costs, pinned structurally (issue 24; no timing here, bench/floor.py times).

Settings are merged once and kept until ``setting_changed``; the gateway secrets are validated
once per settings change; one JSON decoder serves every message; typical schemas take a
plain-Python fast path that never accepts what jsonschema refuses (and leaves every refusal's
wording to jsonschema); the session row is built like ``from_db`` builds it; a route is a dict
lookup whatever the number of routes; the message query never reads the subscriptions; bad
input runs no query.
"""

from __future__ import annotations

import json
import random

import pytest
from django.db.models.signals import post_init
from django.test import override_settings
from jsonschema import Draft202012Validator

from ws_routes import Router, conf, message_parsing, security
from ws_routes.body_validators import JsonSchemaValidator
from ws_routes.models import Subscription, WebSocketSession
from ws_routes.session_query import open_session_query

pytestmark = pytest.mark.django_db


# -- settings ---------------------------------------------------------------------------------


def test_settings_are_merged_once_and_a_change_is_seen(settings):
    first = conf.merged_settings()
    assert conf.merged_settings() is first  # cached: no merge per call
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MAX_BODY_BYTES": 1234}
    assert conf.ws_setting("MAX_BODY_BYTES") == 1234
    assert conf.merged_settings() is not first
    with override_settings(WS_ROUTES={**settings.WS_ROUTES, "MAX_BODY_BYTES": 99}):
        assert conf.ws_setting("MAX_BODY_BYTES") == 99
    assert conf.ws_setting("MAX_BODY_BYTES") == 1234


def test_the_merged_settings_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        conf.merged_settings()["MAX_BODY_BYTES"] = 1  # type: ignore[index]
    copy = conf.ws_settings()
    copy["MAX_BODY_BYTES"] = 1
    assert conf.ws_setting("MAX_BODY_BYTES") != 1


def test_unknown_setting_name_is_still_a_key_error():
    with pytest.raises(KeyError, match="NOPE"):
        conf.ws_setting("NOPE")


def test_secrets_are_validated_once_per_settings_change(settings, monkeypatch):
    calls = []
    real = security._validated_gateway_secrets

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(security, "_validated_gateway_secrets", counting)
    secret = settings.WS_ROUTES["GATEWAY_SECRETS"][0]
    settings.WS_ROUTES = {**settings.WS_ROUTES}  # a change: the cache is dropped
    for _ in range(5):
        assert security.gateway_secret_is_valid(secret)
    assert len(calls) == 1
    rotated = "r" * 40
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": [rotated]}
    assert security.gateway_secret_is_valid(rotated)
    assert not security.gateway_secret_is_valid(secret)
    assert len(calls) == 2


def test_a_malformed_secret_list_is_still_refused_after_caching(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": "x" * 40}
    assert not security.gateway_secret_is_valid("x" * 40)
    assert not security.gateway_secret_is_valid("x")


# -- JSON -------------------------------------------------------------------------------------


def test_no_json_decoder_is_built_per_message(gateway, conn, monkeypatch):
    built = []
    real_init = json.JSONDecoder.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(json.JSONDecoder, "__init__", counting_init)
    for _ in range(3):
        assert gateway.message(conn, {"action": "echo", "x": 1.5}).status_code == 200
    assert built == []


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b'{"action": "echo", "x": NaN}', "non-number constant"),
        (b'{"action": "echo", "x": 1e400}', "out of range"),
        (b'{"action": "echo", "x": -Infinity}', "non-number constant"),
    ],
)
def test_what_is_not_strict_json_still_gets_its_envelope(gateway, conn, raw, problem):
    response = gateway.message(conn, raw)
    body = json.loads(response.content)
    assert response.status_code == 400
    assert body["action"] == "echo" and body["error"]["code"] == "invalid_json"
    assert problem in body["error"]["message"]


def _deepest(value, depth=1):
    if isinstance(value, dict):
        return max([depth, *(_deepest(v, depth + 1) for v in value.values())])
    if isinstance(value, list):
        return max([depth, *(_deepest(v, depth + 1) for v in value)])
    return 0


def test_depth_check_agrees_with_a_recursive_walk():
    rng = random.Random(24)

    def make(depth):
        if depth == 0 or rng.random() < 0.2:
            return rng.choice([1, "s", None, 2.5])
        if rng.random() < 0.5:
            return [make(depth - 1) for _ in range(rng.randint(0, 3))]
        return {f"k{i}": make(depth - 1) for i in range(rng.randint(0, 3))}

    for _ in range(300):
        value = make(rng.randint(0, 9))
        for limit in range(0, 10):
            expected = _deepest(value) > limit
            assert message_parsing.nesting_depth_exceeds(value, limit) is expected, (value, limit)


# -- schemas ----------------------------------------------------------------------------------

TYPICAL = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 5},
        "n": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
        "x": {"type": "number", "maximum": 2.5},
        "kind": {"enum": ["a", "b"]},
        "ok": {"type": "boolean"},
        "none": {"type": "null"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "inner": {"type": "object", "properties": {"y": {}}, "additionalProperties": False},
    },
    "additionalProperties": False,
}
VALUES = [
    0, 1, 1.0, -1, True, False, None, "", "ab", "abcdef", "ü", [], ["a"], ["a", "b", "c"], [1],
    {}, {"y": 1}, {"z": 1}, 2.5, 2.6, 10, 9, 9.5, "a", "c",
]  # fmt: skip


def _values(rng):
    body = {"text": rng.choice(VALUES)}
    for key in ("n", "x", "kind", "ok", "none", "tags", "inner", "extra"):
        if rng.random() < 0.4:
            body[key] = rng.choice(VALUES)
    if rng.random() < 0.1:
        del body["text"]
    return rng.choice([body, body, body, rng.choice(VALUES)])


def test_the_fast_path_never_accepts_what_jsonschema_refuses():
    from ws_routes.schema_fast import compile_fast

    accepts = compile_fast(TYPICAL)
    assert accepts is not None  # the typical schema is compiled
    judge = Draft202012Validator(TYPICAL, format_checker=Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(7)
    agreed = 0
    for _ in range(3000):
        value = _values(rng)
        if accepts(value):
            assert judge.is_valid(value), value
        agreed += accepts(value) == judge.is_valid(value)
    assert agreed > 2900  # and it is a fast path for nearly everything valid, not a no-op


def test_refusals_are_worded_by_jsonschema():
    validator = JsonSchemaValidator(TYPICAL)
    rng = random.Random(11)
    for _ in range(500):
        value = _values(rng)
        expected = sorted(
            Draft202012Validator(TYPICAL).iter_errors(value), key=lambda e: [str(p) for p in e.path]
        )
        problems, _ = validator.check(value)
        assert [p["message"] for p in problems] == [e.message for e in expected][:20]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "email"},
        {"type": "string", "pattern": "^a"},
        {"$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"enum": [1, True]},
        {"type": ["string", "null"]},
        {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"},
        {"properties": {"a": {"const": 1}}},
        {"additionalProperties": {"type": "string"}},
    ],
)
def test_other_schemas_are_left_to_jsonschema(schema):
    from ws_routes.schema_fast import compile_fast

    assert compile_fast(schema) is None


# -- the session row --------------------------------------------------------------------------


def _fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_session_and_user_are_built_as_from_db_builds_them(gateway, conn, alice):
    session = open_session_query.get(conn)
    reference = WebSocketSession.objects.select_related("user").get(connection_id=conn)
    assert _fields(session) == _fields(reference)
    assert _fields(session.user) == _fields(reference.user)
    assert session._state.adding is False and session._state.db == "default"
    assert session.user._state.adding is False
    session.save(update_fields=["channel_name"])  # a normal, saveable instance


def test_a_post_init_receiver_still_runs(gateway, conn):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=WebSocketSession)
    try:
        session = open_session_query.get(conn)
    finally:
        post_init.disconnect(receiver, sender=WebSocketSession)
    assert seen == [session]


def test_build_instance_falls_back_to_from_db_for_a_partial_row():
    from ws_routes.session_row import build_instance

    instance = build_instance(WebSocketSession, "default", ["id", "connection_id"], [7, "c="])
    assert instance.pk == 7 and instance.get_deferred_fields()


def test_a_model_with_its_own_from_db_is_built_by_it(monkeypatch, gateway, conn):
    """A project's ``from_db`` (caching, auditing) still runs on the message path."""
    from ws_routes import session_query, session_row

    built = []

    def from_db(cls, db, field_names, values):
        built.append(db)
        return super(WebSocketSession, cls).from_db(db, field_names, values)

    monkeypatch.setattr(WebSocketSession, "from_db", classmethod(from_db))
    monkeypatch.setattr(session_row, "_plain_models", {})
    session = session_query.open_session_query.get(conn)
    assert session is not None and session.connection_id == conn and built == ["default"]


# -- flat cost: routes and subscriptions ------------------------------------------------------


class _NoScanDict(dict):
    def __iter__(self):
        raise AssertionError("route lookup scanned the routes")

    def items(self):
        raise AssertionError("route lookup scanned the routes")

    def values(self):
        raise AssertionError("route lookup scanned the routes")


def test_route_lookup_is_one_dict_lookup_among_a_thousand_routes():
    router = Router()
    for index in range(1000):
        router.add_route(f"r{index}", lambda request, body: None)
    router._routes = _NoScanDict(router._routes)
    assert router.resolve("r999").key == "r999"
    assert router.resolve("nope") is None


def test_the_message_query_reads_no_subscription(gateway, conn, django_assert_num_queries):
    session = WebSocketSession.objects.get(connection_id=conn)
    Subscription.objects.bulk_create(
        Subscription(session=session, channel=f"room:{i}", slot=i + 1) for i in range(40)
    )
    with django_assert_num_queries(1) as captured:
        assert gateway.message(conn, {"action": "echo"}).status_code == 200
    (query,) = captured.captured_queries
    assert Subscription._meta.db_table not in query["sql"]


# -- bad input: no query ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, extra, status",
    [
        ({"action": "echo"}, {"HTTP_X_WS_SECRET": "f" * 40}, 403),
        (b'{"action": "echo", "x": ', {}, 400),
        ({"action": "no.such.route"}, {}, 400),
    ],
    ids=["forged secret", "malformed JSON", "unknown route"],
)
def test_bad_input_runs_no_query(gateway, conn, django_assert_num_queries, body, extra, status):
    with django_assert_num_queries(0):
        assert gateway.message(conn, body, **extra).status_code == status
