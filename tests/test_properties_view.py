"""Issue 10 item 15: property-based tests of the view (bodies, headers, query strings).

Whatever arrives: never a 500, every reply is strict JSON that keeps the envelope the message
carried, and every rejection leaves the database as it was. Examples are bounded in
``make test``; ``WS_ROUTES_HYPOTHESIS_PROFILE=deep`` runs many more (tests/hypothesis_profiles.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (loads the profile)
from ws_routes import Router
from ws_routes.contract import event_headers, meta_key
from ws_routes.models import ConnectToken, WebSocketSession

pytestmark = pytest.mark.django_db

fuzzed = Router(app_name="properties")


@fuzzed.route("echo")
def echo(request: Any, body: Any) -> Any:
    return {"body": body}


@fuzzed.route(
    "typed",
    schema={
        "type": "object",
        "required": ["n"],
        "properties": {"n": {"type": "integer"}, "s": {"type": "string", "maxLength": 10}},
    },
)
def typed(request: Any, body: Any) -> Any:
    return body


@fuzzed.route("members", login_required=True)
def members(request: Any, body: Any) -> Any:
    return {"user": request.user.get_username()}


@fuzzed.route("staff", permission="auth.view_user")
def staff(request: Any, body: Any) -> Any:
    return {"ok": True}


@fuzzed.default
def fallback(request: Any, body: Any) -> Any:
    return {"default": True}


factory = RequestFactory()


def state() -> tuple[list[Any], list[Any]]:
    return (
        sorted(
            WebSocketSession.objects.values_list(
                "connection_id", "connected", "user_id", "channel_name", "login_binding"
            )
        ),
        sorted(ConnectToken.objects.values_list("token_hash", "expires_at")),
    )


def post(event: str, connection_id: str, body: bytes = b"", query: str = "", **meta: str):
    headers = event_headers(
        secret=settings.GATEWAY_SECRET,
        connection_id=connection_id,
        event=event,
        route="$default",
        source_ip="203.0.113.9",
        request_id="prop-1",
        api_id="abc123",
        stage="prod",
    )
    environ = {meta_key(name): value for name, value in headers.items()}
    environ.update(meta)
    path = "/ws/" + (f"?{query}" if query else "")
    request = factory.post(path, body, content_type="application/json", **environ)
    request.user = AnonymousUser()
    return fuzzed.view(request)


def strict_json(content: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a reply: not JSON")

    return json.loads(content.decode("utf-8"), parse_constant=refuse)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
actions = st.sampled_from(["echo", "typed", "members", "staff", "nope", "$default", ""]) | st.text(
    max_size=140
)
message_ids = st.text(max_size=130) | st.integers() | st.floats() | st.booleans() | st.none()


@st.composite
def message_bodies(draw: Any) -> bytes:
    """Mostly messages shaped like real ones, then broken in the ways clients break them."""
    message = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    if draw(st.booleans()):
        message["action"] = draw(actions | json_values)
    if draw(st.booleans()):
        message["id"] = draw(message_ids)
    if draw(st.booleans()):
        message["n"] = draw(json_values)
    raw = json.dumps(message, allow_nan=True).encode("utf-8", "surrogatepass")
    mutation = draw(st.sampled_from(["none", "truncate", "insert", "deep", "number", "encoding"]))
    if mutation == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == "insert":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=8)) + raw[at:]
    elif mutation == "deep":
        depth = draw(st.integers(1, 3000))
        raw = b'{"action": "echo", "id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
    elif mutation == "number":
        number = draw(st.sampled_from([b"1e400", b"-1e999", b"NaN", b"Infinity", b"1" * 5000]))
        raw = b'{"action": "echo", "id": 2, "n": ' + number + b"}"
    elif mutation == "encoding":
        raw = draw(st.sampled_from(["utf-16", "utf-32", "utf-16-le"])) and json.dumps(
            message
        ).encode(draw(st.sampled_from(["utf-16", "utf-32", "utf-16-le"])))
    return raw


def expected_envelope(raw: bytes) -> dict[str, Any] | None:
    """What a reply must echo, when the body was a JSON object we could read."""
    try:
        message = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    envelope: dict[str, Any] = {}
    action = message.get("action")
    if isinstance(action, str) and len(action) <= 128:
        envelope["action"] = action
    return envelope


@pytest.fixture
def open_connection() -> str:
    response = post("CONNECT", "PropConn0000001=")
    assert response.status_code == 200
    return "PropConn0000001="


@given(raw=message_bodies())
def test_any_message_body(open_connection, raw):
    before = state()
    response = post("MESSAGE", open_connection, raw)
    assert response.status_code != 500, response.content[:300]
    assert len(response.content) <= 128 * 1024
    if response.content:
        reply = strict_json(response.content)
        envelope = expected_envelope(raw)
        if envelope and "action" in envelope:
            assert reply.get("action") == envelope["action"]
    assert state() == before  # a message never writes


header_values = st.text(max_size=200) | st.sampled_from(["", "..", ".", "a/b", "x" * 300])
events = st.sampled_from(["CONNECT", "MESSAGE", "DISCONNECT"]) | st.text(max_size=12)


@given(
    event=events,
    connection_id=header_values,
    api_id=header_values,
    stage=header_values,
    source_ip=header_values,
    secret=st.none() | header_values,
)
def test_any_gateway_headers(event, connection_id, api_id, stage, source_ip, secret):
    before = state()
    meta = {
        meta_key("X-Ws-Api-Id"): api_id,
        meta_key("X-Ws-Stage"): stage,
        meta_key("X-Ws-Source-Ip"): source_ip,
    }
    if secret is not None:
        meta[meta_key("X-Ws-Secret")] = secret
    response = post(event, connection_id, b'{"action": "echo"}', **meta)
    assert response.status_code != 500
    if response.content:
        strict_json(response.content)
    if response.status_code >= 400:
        assert state() == before


query_parts = st.lists(
    st.tuples(
        st.sampled_from(["token", "channel", "x", ""]) | st.text(max_size=8),
        st.text(max_size=140),
    ),
    max_size=4,
)


@given(parts=query_parts, raw_suffix=st.text(max_size=40))
def test_any_connect_query_string(parts, raw_suffix):
    from urllib.parse import urlencode

    query = urlencode(parts) + raw_suffix
    before = state()
    response = post("CONNECT", "PropConn0000002=", query=query)
    assert response.status_code != 500
    if response.status_code >= 400:
        strict_json(response.content)
        assert state() == before
    else:
        post("DISCONNECT", "PropConn0000002=")


@given(channel=st.text(max_size=140), use_token=st.booleans())
def test_a_valid_token_is_spent_only_by_a_connect_that_succeeds(alice, channel, use_token):
    raw = ConnectToken.mint(alice)
    query = f"channel={channel}&token={raw}" if use_token else f"channel={channel}"
    before = state()
    response = post("CONNECT", "PropConn0000003=", query=query)
    assert response.status_code != 500
    if response.status_code >= 400:  # a malformed or unauthorised channel
        assert state() == before  # the token is still there
    else:
        post("DISCONNECT", "PropConn0000003=")
    ConnectToken.objects.all().delete()
