"""Issue 21, bad input: what is not an API Gateway WebSocket event gets a logged 400, never an
exception; base64 is decoded strictly; oversized frames are refused as over HTTP."""

from __future__ import annotations

import base64
import copy
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests import lambda_support
from tests.lambda_support import (
    API_ID,
    STAGE,
    connect_event,
    invoke,
    message_event,
    new_connection_id,
    reply,
)
from ws_routes.lambda_events import MAX_HEADERS
from ws_routes.models import WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lambda_settings")]


lambda_settings = lambda_support.lambda_settings  # the fixture, used by every test here


def _without(event, *path):
    event = copy.deepcopy(event)
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


def _with(event, value, *path):
    event = copy.deepcopy(event)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


CONNECT = connect_event("Hostile1=")
MESSAGE = message_event("Hostile1=", {"action": "echo"})

SQS_EVENT = {
    "Records": [
        {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": '{"action": "echo"}',
            "attributes": {"ApproximateReceiveCount": "1"},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:my-queue",
            "awsRegion": "eu-west-2",
        }
    ]
}
HTTP_API_V2_EVENT = {
    "version": "2.0",
    "routeKey": "POST /ws",
    "rawPath": "/ws",
    "rawQueryString": "",
    "headers": {"host": "abc123.execute-api.eu-west-2.amazonaws.com"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": API_ID,
        "domainName": "abc123.execute-api.eu-west-2.amazonaws.com",
        "http": {"method": "POST", "path": "/ws", "sourceIp": "203.0.113.7"},
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": "POST /ws",
        "stage": "$default",
        "timeEpoch": 1796587200123,
    },
    "body": '{"action": "echo"}',
    "isBase64Encoded": False,
}
REST_V1_EVENT = {
    "resource": "/ws",
    "path": "/ws",
    "httpMethod": "POST",
    "headers": {},
    "requestContext": {"apiId": API_ID, "stage": STAGE, "requestId": "r", "resourcePath": "/ws"},
    "body": '{"action": "echo"}',
    "isBase64Encoded": False,
}

BAD_EVENTS = {
    "none": None,
    "list": [MESSAGE],
    "string": '{"requestContext": {}}',
    "empty object": {},
    "sqs record": SQS_EVENT,
    "http api v2": HTTP_API_V2_EVENT,
    "rest api v1": REST_V1_EVENT,
    "requestContext a string": _with(MESSAGE, "x", "requestContext"),
    "no eventType": _without(MESSAGE, "requestContext", "eventType"),
    "eventType lowercase": _with(MESSAGE, "message", "requestContext", "eventType"),
    "eventType a list": _with(MESSAGE, ["MESSAGE"], "requestContext", "eventType"),
    "no connectionId": _without(MESSAGE, "requestContext", "connectionId"),
    "connectionId a number": _with(MESSAGE, 7, "requestContext", "connectionId"),
    "connectionId with a slash": _with(MESSAGE, "../x", "requestContext", "connectionId"),
    "no apiId": _without(MESSAGE, "requestContext", "apiId"),
    "apiId empty": _with(MESSAGE, "", "requestContext", "apiId"),
    "no stage": _without(MESSAGE, "requestContext", "stage"),
    "stage a dot segment": _with(MESSAGE, "..", "requestContext", "stage"),
    "no domainName": _without(MESSAGE, "requestContext", "domainName"),
    "domainName with a path": _with(MESSAGE, "a.example/x", "requestContext", "domainName"),
    "no routeKey": _without(MESSAGE, "requestContext", "routeKey"),
    "identity a string": _with(MESSAGE, "203.0.113.7", "requestContext", "identity"),
    "sourceIp a number": _with(MESSAGE, 7, "requestContext", "identity", "sourceIp"),
    "requestId a dict": _with(MESSAGE, {}, "requestContext", "requestId"),
    "body a dict": _with(MESSAGE, {"action": "echo"}, "body"),
    "isBase64Encoded a string": _with(MESSAGE, "false", "isBase64Encoded"),
    "headers a list": _with(CONNECT, [["Cookie", "x"]], "headers"),
    "multiValueHeaders of strings": _with(CONNECT, {"Cookie": "x"}, "multiValueHeaders"),
    "a header value a number": _with(
        _without(CONNECT, "multiValueHeaders"), {"Cookie": 1}, "headers"
    ),
    "query a list": _with(CONNECT, ["token"], "queryStringParameters"),
    "too many headers": _with(
        CONNECT, {f"X-H{i}": ["v"] for i in range(MAX_HEADERS + 1)}, "multiValueHeaders"
    ),
    "headers too big": _with(CONNECT, {"X-Big": ["v" * 70_000]}, "multiValueHeaders"),
}


@pytest.mark.parametrize("event", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_what_is_not_a_websocket_event_is_a_logged_400(event, caplog, django_assert_num_queries):
    caplog.set_level(logging.ERROR, logger="ws_routes")
    with django_assert_num_queries(0):
        result = invoke(event)
    assert result["statusCode"] == 400
    assert reply(result)["error"]["code"] == "bad_event"
    assert "Lambda event refused" in caplog.text
    assert "11111111-2222-3333-4444-555555555555" in caplog.text  # the invocation, to find it
    assert not WebSocketSession.objects.exists()


def test_the_error_names_what_is_wrong():
    assert "SQS" in reply(invoke(SQS_EVENT))["error"]["message"]
    assert "HTTP API" in reply(invoke(HTTP_API_V2_EVENT))["error"]["message"]
    message = reply(invoke(BAD_EVENTS["no connectionId"]))["error"]["message"]
    assert "connectionId" in message


@pytest.mark.parametrize(
    "body",
    [
        "eyJhY3Rpb24iOiAiZWNobyJ9!",  # a character outside the alphabet
        "eyJhY3Rpb24iOiAiZWNobyJ9\n",  # whitespace, which lenient decoding skips
        "eyJhY3Rpb24iOiAiZWNobyJ",  # padding missing
        "ZXlK=ZXlK",  # padding in the middle
        "ZXlKaGRHbHZiaUk2SUNKbFkyaHZJbjA9é",  # not ASCII
    ],
)
def test_base64_is_decoded_strictly(body):
    event = message_event(new_connection_id(), body)
    event["isBase64Encoded"] = True
    result = invoke(event)
    assert result["statusCode"] == 400
    assert reply(result)["error"]["code"] == "bad_event"


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_oversized_frames_are_refused_as_over_http(lambda_settings, base64_encoded):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "MAX_BODY_BYTES": 64}
    connection_id = new_connection_id()
    assert invoke(connect_event(connection_id))["statusCode"] == 200
    fits = '{"action":"echo","pad":"' + "x" * 38 + '"}'
    assert len(fits) == 64
    over = fits.replace('"}', 'x"}')
    result = invoke(message_event(connection_id, fits, base64_encoded=base64_encoded))
    assert result["statusCode"] == 200
    for body in (over, over * 1000):
        result = invoke(message_event(connection_id, body, base64_encoded=base64_encoded))
        assert result["statusCode"] == 413
        assert reply(result)["error"]["code"] == "too_large"


def test_a_frame_that_is_not_utf8_is_invalid_json():
    connection_id = new_connection_id()
    invoke(connect_event(connection_id))
    raw = base64.b64encode(b'{"action":"echo","x":"\xff"}').decode()
    result = invoke(message_event(connection_id, raw, base64_encoded=True))
    assert result["statusCode"] == 400
    assert reply(result)["error"]["code"] == "invalid_json"
    lone_surrogate = invoke(message_event(connection_id, '{"action":"echo","x":"\ud800"}'))
    assert reply(lone_surrogate)["error"]["code"] == "invalid_json"


def test_headers_with_underscores_are_dropped_like_a_wsgi_server_does(client, alice):
    client.force_login(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    event = connect_event(new_connection_id(), headers={"Cook_ie": cookie})
    assert invoke(event)["statusCode"] == 200
    assert WebSocketSession.objects.get().user is None


def test_a_host_django_does_not_allow_is_refused_not_raised(lambda_settings):
    lambda_settings.ALLOWED_HOSTS = ["www.example.com"]
    result = invoke(connect_event(new_connection_id()))
    assert result["statusCode"] == 400
    assert not WebSocketSession.objects.exists()


@pytest.mark.parametrize("value", ["abc123/production", [7], ["abc/.."], ["a b"], {"a": 1}])
def test_a_malformed_allow_list_fails_the_system_check(lambda_settings, value):
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": value}
    with pytest.raises(SystemCheckError, match="ws_routes.E010"):
        call_command("check")


def test_a_well_formed_allow_list_passes_and_lambda_alone_needs_no_secret(lambda_settings):
    lambda_settings.WS_ROUTES = {
        **lambda_settings.WS_ROUTES,
        "LAMBDA_GATEWAYS": ["abc123/production", "def456"],
        "GATEWAY_SECRETS": [],
    }
    call_command("check")
    lambda_settings.WS_ROUTES = {**lambda_settings.WS_ROUTES, "LAMBDA_GATEWAYS": None}
    with pytest.raises(SystemCheckError, match="ws_routes.E004"):
        call_command("check")
