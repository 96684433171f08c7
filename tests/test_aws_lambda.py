"""Issue 21: ``ws_routes.aws_lambda.handler`` answers Lambda-proxy events like the HTTP view.

Every event is built by tests/lambda_support.py and accepted by aws-lambda-powertools' parser
models before the handler sees it. Hostile events: tests/test_aws_lambda_hostile.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.signals import request_finished

from tests import lambda_support
from tests.lambda_support import (
    API_ID,
    SOURCE_IP,
    STAGE,
    connect_event,
    disconnect_event,
    invoke,
    message_event,
    new_connection_id,
    reply,
)
from tests.testapp import ws as testapp_ws
from ws_routes import Router
from ws_routes.aws_lambda import make_handler, mounted_path, reset_gateway_cache
from ws_routes.models import ApiGateway, ConnectToken, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lambda_settings")]


lambda_settings = lambda_support.lambda_settings  # the fixture, used by every test here


def opened(**kwargs) -> str:
    connection_id = new_connection_id()
    result = invoke(connect_event(connection_id, **kwargs))
    assert result["statusCode"] == 200, result
    return connection_id


def session_cookie(client, user) -> str:
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


# -- $connect -------------------------------------------------------------------------------------


def test_anonymous_connect_opens_a_session_with_the_gateways_context():
    connection_id = opened(query={"channel": "lobby"})
    session = WebSocketSession.objects.get(connection_id=connection_id)
    assert (session.api_id, session.stage, session.source_ip) == (API_ID, STAGE, SOURCE_IP)
    assert session.channel_name == "lobby" and session.connected and session.user is None


def test_cookie_connect_acts_as_the_logged_in_user(client, alice):
    cookie = session_cookie(client, alice)
    connection_id = opened(headers={"Cookie": cookie})
    session = WebSocketSession.objects.get(connection_id=connection_id)
    assert session.user == alice
    assert session.login_binding == alice.get_session_auth_hash()


def test_cookie_connect_from_an_unlisted_origin_is_refused(client, alice):
    cookie = session_cookie(client, alice)
    event = connect_event(
        new_connection_id(), headers={"Cookie": cookie, "Origin": "https://evil.example"}
    )
    result = invoke(event)
    assert result["statusCode"] == 403
    assert reply(result)["error"]["code"] == "origin_not_allowed"
    assert not WebSocketSession.objects.exists()


def test_one_time_token_connect_spends_the_token(alice):
    raw = ConnectToken.mint(alice)
    connection_id = opened(query={"token": raw, "channel": "lobby"})
    assert WebSocketSession.objects.get(connection_id=connection_id).user == alice
    again = invoke(connect_event(new_connection_id(), query={"token": raw}))
    assert again["statusCode"] == 401
    assert reply(again)["error"]["code"] == "invalid_token"


def test_a_refusing_hook_refuses_the_handshake():
    result = invoke(connect_event(new_connection_id(), query={"channel": "forbidden"}))
    assert result["statusCode"] == 403
    assert reply(result)["error"]["code"] == "connection_refused"
    assert not WebSocketSession.objects.exists()


def test_x_ws_headers_sent_by_the_client_do_not_override_the_context():
    connection_id = new_connection_id()
    spoofed = {"X-Ws-Connection-Id": "Spoofed=", "X-Ws-Api-Id": "other", "X-Ws-Stage": "evil"}
    assert invoke(connect_event(connection_id, headers=spoofed))["statusCode"] == 200
    session = WebSocketSession.objects.get()
    assert (session.connection_id, session.api_id, session.stage) == (connection_id, API_ID, STAGE)


# -- messages ---------------------------------------------------------------------------------


def test_message_reply_has_the_envelope(client, alice):
    connection_id = opened(headers={"Cookie": session_cookie(client, alice)})
    result = invoke(message_event(connection_id, {"action": "echo", "id": 7, "x": 1}))
    assert result["statusCode"] == 200
    assert reply(result) == {
        "action": "echo",
        "id": 7,
        "data": {"body": {"x": 1}, "user": "alice"},
    }


def test_a_message_is_one_query_and_no_write(client, alice, django_assert_num_queries):
    connection_id = opened(headers={"Cookie": session_cookie(client, alice)})
    with django_assert_num_queries(1) as captured:
        result = invoke(message_event(connection_id, {"action": "echo", "id": 1}))
    assert reply(result)["data"]["user"] == "alice"
    assert captured.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")


def test_with_gateway_rows_a_message_stays_one_query(lambda_settings, django_assert_num_queries):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": None}
    ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE)
    connection_id = opened()  # reads the rows once for this container
    with django_assert_num_queries(1):
        assert reply(invoke(message_event(connection_id, {"action": "echo"})))["data"]


def test_base64_frames_are_decoded():
    connection_id = opened()
    result = invoke(message_event(connection_id, {"action": "echo", "id": 2}, base64_encoded=True))
    assert reply(result)["id"] == 2 and reply(result)["data"]["body"] == {}


def test_schema_errors_keep_the_envelope(client, alice):
    connection_id = opened(headers={"Cookie": session_cookie(client, alice)})
    result = invoke(message_event(connection_id, {"action": "chat.send", "id": 3, "text": 5}))
    assert result["statusCode"] == 400
    body = reply(result)
    assert body["action"] == "chat.send" and body["id"] == 3
    assert body["error"]["code"] == "invalid_message"
    assert body["error"]["details"][0]["path"] == "$.text"


def test_login_required_route_refuses_an_anonymous_socket():
    connection_id = opened()
    result = invoke(message_event(connection_id, {"action": "chat.send", "text": "hi"}))
    assert result["statusCode"] == 401
    assert reply(result)["error"]["code"] == "not_authenticated"


def test_async_handlers_work():
    connection_id = opened()
    result = invoke(message_event(connection_id, {"action": "async.echo", "n": 4}))
    assert reply(result)["data"] == {"n": 4, "session": connection_id}


def test_a_route_returning_none_answers_an_empty_200():
    result = invoke(message_event(opened(), {"action": "silent"}))
    assert result == {"statusCode": 200, "body": ""}


def test_a_crashing_handler_is_a_500_that_leaks_nothing():
    result = invoke(message_event(opened(), {"action": "boom", "id": 9}))
    assert result["statusCode"] == 500
    assert reply(result)["error"]["code"] == "internal_error"
    assert "hunter2" not in result["body"]


def test_a_message_on_an_unknown_connection_is_410():
    result = invoke(message_event(new_connection_id(), {"action": "echo"}))
    assert result["statusCode"] == 410
    assert reply(result)["error"]["code"] == "unknown_connection"


# -- $disconnect ------------------------------------------------------------------------------


def test_disconnect_closes_the_session_and_runs_hooks(client, alice):
    testapp_ws.DISCONNECTED.clear()
    connection_id = opened(headers={"Cookie": session_cookie(client, alice)})
    assert invoke(disconnect_event(connection_id))["statusCode"] == 200
    assert not WebSocketSession.objects.get(connection_id=connection_id).connected
    assert invoke(disconnect_event(connection_id))["statusCode"] == 200  # hooks run once
    assert [(connection_id, "alice")] == testapp_ws.DISCONNECTED


# -- which gateways the function answers --------------------------------------------------------


def test_an_event_from_another_api_is_refused_before_any_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        result = invoke(connect_event(new_connection_id(), apiId="otherapi1"))
        other_stage = invoke(connect_event(new_connection_id(), stage="staging"))
    assert result["statusCode"] == other_stage["statusCode"] == 403
    assert reply(result)["error"]["code"] == "forbidden"
    assert not WebSocketSession.objects.exists()


def test_an_api_id_alone_allows_every_stage(lambda_settings):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": [API_ID]}
    assert invoke(connect_event(new_connection_id(), stage="staging"))["statusCode"] == 200


@pytest.mark.parametrize("value", [[], "abc123/production", [f"{API_ID}/{STAGE}", 7], [".."]])
def test_an_empty_or_malformed_allow_list_refuses_everything(lambda_settings, value):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": value}
    assert invoke(connect_event(new_connection_id()))["statusCode"] == 403


def test_unset_the_apigateway_rows_decide(lambda_settings):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": None}
    assert invoke(connect_event(new_connection_id()))["statusCode"] == 403  # no rows yet
    ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE)
    ApiGateway.objects.create(api_name="other", api_id="", stage_name="staging")
    reset_gateway_cache()
    assert invoke(connect_event(new_connection_id()))["statusCode"] == 200
    assert invoke(connect_event(new_connection_id(), stage="staging"))["statusCode"] == 403


def test_no_gateway_secret_is_needed_on_lambda_but_http_still_needs_one(lambda_settings, client):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "GATEWAY_SECRETS": []}
    connection_id = opened()
    assert reply(invoke(message_event(connection_id, {"action": "echo"})))["data"]
    forged = {
        "HTTP_X_WS_EVENT": "MESSAGE",
        "HTTP_X_WS_CONNECTION_ID": connection_id,
        "HTTP_X_WS_API_ID": API_ID,
        "HTTP_X_WS_STAGE": STAGE,
        "HTTP_WS_ROUTES.LAMBDA_INVOKE": "1",
        "ws_routes.lambda_invoke": "1",  # a WSGI server could only ever put a string here
    }
    response = client.post("/ws/", b'{"action":"echo"}', content_type="", **forged)
    assert response.status_code == 403


# -- the request around the view ------------------------------------------------------------------


def test_each_event_is_a_whole_django_request():
    seen = []

    def finished(**kwargs):
        seen.append("finished")

    request_finished.connect(finished)
    try:
        invoke(message_event(opened(), {"action": "echo"}))
    finally:
        request_finished.disconnect(finished)
    assert seen == ["finished", "finished"]  # what closes stale DB connections in a container


def test_the_mount_is_found_in_the_urlconf():
    assert mounted_path() == "/ws/"


def test_a_router_that_is_not_mounted_is_a_logged_500(caplog):
    result = make_handler(Router())(connect_event(new_connection_id()), None)
    assert result["statusCode"] == 500
    assert "no router mounted" in caplog.text


def test_an_explicit_path_is_used():
    result = make_handler(path="/ws/")(connect_event(new_connection_id()), None)
    assert result["statusCode"] == 200


def test_a_fresh_container_sets_django_up_at_import():
    """What Lambda does: import the module in a new interpreter, then call the handler."""
    script = (
        "from django.apps import apps; assert not apps.ready\n"
        "from ws_routes.aws_lambda import handler\n"
        "assert apps.ready\n"
        "print(handler({'Records': []}, None)['statusCode'])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "400"
