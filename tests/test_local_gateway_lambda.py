"""Issue 21 item 4: the local gateway invokes a Lambda handler in-process (``--lambda``).

Every event it builds is checked by aws-lambda-powertools' parser models (code nobody here
wrote) and against the documented key sets; real aiohttp clients drive the quick-start stage
and a stage that ``syncroutes`` deployed with ``AWS_PROXY``; the handler's failures give AWS's
frames; ``ws_routes.aws_lambda.handler`` serves the test app through it end to end.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from unittest import mock

import aiohttp
import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.deploy_support import REGION
from tests.e2e.support import run
from tests.lambda_support import MODELS
from tests.testapp import ws as testapp_ws  # noqa: F401 - the test app's routes
from ws_routes import sending
from ws_routes.aws_lambda import handler as django_handler
from ws_routes.aws_lambda import reset_gateway_cache
from ws_routes.deploy import aws as deploy_aws
from ws_routes.deploy.apply import sync_gateway
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.lambda_proxy import read_result, request_time
from ws_routes.management.commands.runwsgateway import Command
from ws_routes.models import ApiGateway, ConnectToken, WebSocketSession
from ws_routes.routing import router

pytest_plugins = ["tests.deploy_fixtures"]

ORIGIN = "https://app.example.com"  # in tests.settings' ALLOWED_ORIGINS
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:ws-routes"
#: requestContext keys of AWS's documented events (developer guide, "WebSocket API
#: integration requests": the $connect / message / $disconnect Lambda-proxy examples).
COMMON_KEYS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
}
CONTEXT_KEYS = {
    "CONNECT": COMMON_KEYS,
    "MESSAGE": COMMON_KEYS | {"messageId"},
    "DISCONNECT": COMMON_KEYS | {"disconnectStatusCode", "disconnectReason"},
}
EVENT_KEYS = {
    "CONNECT": {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"},
    "MESSAGE": {"requestContext", "body", "isBase64Encoded"},
    "DISCONNECT": {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"},
}


def checked(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` after powertools' model and the documented key sets accepted it."""
    kind = event["requestContext"]["eventType"]
    MODELS[kind].model_validate(event)
    extra = (
        {"queryStringParameters", "multiValueQueryStringParameters"} if kind == "CONNECT" else set()
    )
    assert EVENT_KEYS[kind] <= set(event) <= EVENT_KEYS[kind] | extra
    assert set(event["requestContext"]) == CONTEXT_KEYS[kind]
    json.dumps(event)  # what Lambda's runtime would deserialise
    return event


class Recorder:
    """A Lambda handler that records its events (checked) and answers ``respond(event)``."""

    def __init__(self, respond: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.threads: set[str] = set()
        self.respond = respond or self.echo

    @staticmethod
    def echo(event: dict[str, Any]) -> Any:
        if event["requestContext"]["eventType"] == "MESSAGE":
            return {"statusCode": 200, "body": json.dumps({"echo": event["body"]})}
        return {"statusCode": 200}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(checked(event))
        self.contexts.append(context)
        self.threads.add(threading.current_thread().name)
        return self.respond(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["requestContext"]["eventType"] == kind]

    def wait_for(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.of(kind):
            assert time.monotonic() < deadline, f"no {kind} event"
            time.sleep(0.02)
        return self.of(kind)[-1]


@asynccontextmanager
async def socket(url: str, **kwargs: Any):
    async with aiohttp.ClientSession() as http, http.ws_connect(url, **kwargs) as ws:
        yield ws


async def refused(url: str, **kwargs: Any) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        async with socket(url, **kwargs):
            pass
    return error.value.status


def lambda_gateway(handler: Any, **options: Any) -> LocalGateway:
    options.setdefault("route_keys", frozenset({"echo"}))
    return LocalGateway(lambda_handlers={"*": handler}, **options)


# -- the events ---------------------------------------------------------------------------------


def test_every_event_has_aws_shape_and_validates_against_powertools():
    recorder = Recorder()

    async def scenario(gateway: LocalGateway) -> tuple[Any, Any]:
        url = gateway.url + "/?channel=lobby&tag=a&tag=b"
        headers = {"Cookie": "sessionid=abc", "User-Agent": "test-agent/1.0", "Origin": ORIGIN}
        async with socket(url, headers=headers) as ws:
            await ws.send_str(json.dumps({"action": "echo", "id": 1}))
            first = json.loads(await ws.receive_str(timeout=5))
            await ws.send_str("not json")
            second = json.loads(await ws.receive_str(timeout=5))
            await ws.close(code=4000, message=b"bye")
        return first, second

    with lambda_gateway(recorder) as gateway:
        first, second = run(scenario(gateway))
        recorder.wait_for("DISCONNECT")
    [connect] = recorder.of("CONNECT")
    echo, default = recorder.of("MESSAGE")
    [disconnect] = recorder.of("DISCONNECT")
    assert first == {"echo": json.dumps({"action": "echo", "id": 1})}
    assert second == {"echo": "not json"}

    context = connect["requestContext"]
    assert (context["routeKey"], context["messageDirection"]) == ("$connect", "IN")
    assert (context["apiId"], context["stage"], context["domainName"]) == (
        "localws001",
        "local",
        "127.0.0.1",
    )
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "test-agent/1.0"}
    assert connect["queryStringParameters"] == {"channel": "lobby", "tag": "b"}
    assert connect["multiValueQueryStringParameters"] == {"channel": ["lobby"], "tag": ["a", "b"]}
    assert connect["headers"]["Cookie"] == "sessionid=abc"
    assert connect["multiValueHeaders"]["Origin"] == [ORIGIN]
    assert connect["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert connect["isBase64Encoded"] is False

    assert echo["requestContext"]["routeKey"] == "echo"
    assert default["requestContext"]["routeKey"] == "$default"
    assert echo["body"] == json.dumps({"action": "echo", "id": 1}) and default["body"] == "not json"
    assert echo["requestContext"]["messageId"] != default["requestContext"]["messageId"]
    assert disconnect["requestContext"]["disconnectStatusCode"] == 4000
    assert disconnect["requestContext"]["disconnectReason"] == "bye"

    connection_ids = {e["requestContext"]["connectionId"] for e in recorder.events}
    assert len(connection_ids) == 1 and connection_ids.pop().endswith("=")
    connected_at = {e["requestContext"]["connectedAt"] for e in recorder.events}
    assert len(connected_at) == 1  # when the socket opened, on every event of it
    for event in recorder.events:
        epoch = event["requestContext"]["requestTimeEpoch"]
        assert abs(epoch - time.time() * 1000) < 60_000
        assert event["requestContext"]["requestTime"] == request_time(epoch)
    # Handlers run in the gateway's worker threads, never on its event loop.
    assert recorder.threads and all(name.startswith("ws-lambda") for name in recorder.threads)
    assert recorder.contexts[0].invoked_function_arn.endswith(":function:runwsgateway-quick-start")
    assert 0 < recorder.contexts[0].get_remaining_time_in_millis() <= 29_000


def test_request_time_is_awss_format_whatever_the_locale():
    assert request_time(1796587200123) == "06/Dec/2026:20:00:00 +0000"


# -- the results --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"statusCode": 403, "body": "no"}, 403),
        ({"statusCode": 401}, 401),
        ({"statusCode": 302}, 302),
    ],
)
def test_connect_is_refused_unless_2xx_with_the_handlers_status(result, status):
    recorder = Recorder(lambda event: result)
    with lambda_gateway(recorder) as gateway:
        assert run(refused(gateway.url)) == status
        assert gateway.connection_ids() == []
    assert recorder.of("DISCONNECT") == []  # a refused socket never connected


def test_connect_accepts_the_subprotocol_the_handler_returns():
    def respond(event: dict[str, Any]) -> Any:
        if event["requestContext"]["eventType"] == "CONNECT":
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat.v1"}}
        return {"statusCode": 200}

    async def scenario(gateway: LocalGateway) -> str | None:
        async with socket(gateway.url, protocols=("chat.v1", "other")) as ws:
            return ws.protocol

    with lambda_gateway(Recorder(respond)) as gateway:
        assert run(scenario(gateway)) == "chat.v1"


def slow(seconds: float) -> Callable[[dict[str, Any]], Any]:
    def respond(event: dict[str, Any]) -> Any:
        if event["requestContext"]["eventType"] == "MESSAGE":
            time.sleep(seconds)
        return Recorder.echo(event)

    return respond


def raising(event: dict[str, Any]) -> Any:
    if event["requestContext"]["eventType"] == "MESSAGE":
        raise RuntimeError("handler bug")
    return {"statusCode": 200}


async def a_coroutine() -> dict[str, Any]:
    return {"statusCode": 200}


GARBAGE: list[Any] = [
    None,
    "OK",
    [200],
    {"body": "no status"},
    {"statusCode": "200", "body": "x"},
    {"statusCode": True},
    {"statusCode": 99},
    {"statusCode": 200, "body": {"not": "a string"}},
    {"statusCode": 200, "body": object()},
    {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    {"statusCode": 200, "body": "x", "isBase64Encoded": "yes"},
    {"statusCode": 200, "body": "x" * (128 * 1024 + 1)},
    {"statusCode": 200, "headers": ["not", "an", "object"]},
]


async def one_reply(gateway: LocalGateway, message: str = '{"action": "echo"}') -> Any:
    async with socket(gateway.url) as ws:
        await ws.send_str(message)
        return json.loads(await ws.receive_str(timeout=5))


@pytest.mark.parametrize("result", [*GARBAGE, "coroutine"], ids=repr)
def test_a_malformed_result_is_awss_internal_server_error_frame(result):
    def respond(event: dict[str, Any]) -> Any:
        if event["requestContext"]["eventType"] != "MESSAGE":
            return {"statusCode": 200}
        return a_coroutine() if result == "coroutine" else result

    with lambda_gateway(Recorder(respond)) as gateway:
        frame = run(one_reply(gateway))
    assert set(frame) == {"message", "connectionId", "requestId"}
    assert frame["message"] == "Internal server error"


@pytest.mark.parametrize("result", GARBAGE, ids=repr)
def test_read_result_refuses_garbage(result):
    with pytest.raises(ValueError):
        read_result(result)


def test_a_base64_body_is_decoded_and_an_empty_one_sends_nothing():
    answers = iter(
        [{"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}, {"statusCode": 200}]
    )

    def respond(event: dict[str, Any]) -> Any:
        return (
            next(answers)
            if event["requestContext"]["eventType"] == "MESSAGE"
            else {"statusCode": 200}
        )

    async def scenario(gateway: LocalGateway) -> list[str]:
        async with socket(gateway.url) as ws:
            await ws.send_str("one")
            first = await ws.receive_str(timeout=5)
            await ws.send_str("two")
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive_str(timeout=0.5)
            return [first]

    with lambda_gateway(Recorder(respond)) as gateway:
        assert run(scenario(gateway)) == ["hi"]


@contextmanager
def gateway_log() -> Iterator[io.StringIO]:
    """What the gateway logs meanwhile (its own handler: runwsgateway may stop propagation)."""
    logger = logging.getLogger("ws_routes.local_gateway")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_handler_that_raises_gives_internal_server_error_and_a_log_line():
    with gateway_log() as log, lambda_gateway(Recorder(raising)) as gateway:
        frame = run(one_reply(gateway))
    assert frame["message"] == "Internal server error"
    assert "Lambda handler raised" in log.getvalue() and "handler bug" in log.getvalue()


def test_a_handler_over_the_integration_timeout_gives_endpoint_request_timed_out():
    with lambda_gateway(Recorder(slow(2)), integration_timeout=0.3) as gateway:
        started = time.monotonic()
        frame = run(one_reply(gateway))
        assert time.monotonic() - started < 1.5
    assert frame["message"] == "Endpoint request timed out"


@pytest.mark.parametrize(
    ("respond", "status"), [(lambda event: 1 / 0, 500), (lambda event: time.sleep(2), 504)]
)
def test_a_failing_connect_handler_refuses_the_handshake_as_aws_does(respond, status):
    with lambda_gateway(Recorder(respond), integration_timeout=0.3) as gateway:
        assert run(refused(gateway.url)) == status


def test_a_slow_handler_never_blocks_the_loop_or_other_messages():
    def respond(event: dict[str, Any]) -> Any:
        if event.get("body") == "slow":
            time.sleep(1)
        return Recorder.echo(event)

    async def scenario(gateway: LocalGateway) -> list[Any]:
        async with socket(gateway.url) as ws, socket(gateway.url) as other:
            await ws.send_str("slow")
            await ws.send_str("fast")
            await other.send_str("other")
            replies = [json.loads(await other.receive_str(timeout=0.8))]
            replies.append(json.loads(await ws.receive_str(timeout=0.8)))
            replies.append(json.loads(await ws.receive_str(timeout=2)))
            return replies

    with lambda_gateway(Recorder(respond)) as gateway:
        assert run(scenario(gateway)) == [{"echo": "other"}, {"echo": "fast"}, {"echo": "slow"}]


# -- what syncroutes deployed (AWS_PROXY) -------------------------------------------------------

RECORDER = Recorder()


@pytest.fixture
def control_plane() -> Iterator[LocalGateway]:
    """The ``aws`` fixture's gateway, with an in-process handler for ``FUNCTION_ARN`` only."""
    RECORDER.events.clear()
    with LocalGateway(lambda_handlers={FUNCTION_ARN: RECORDER}) as gateway:
        yield gateway


def function_code() -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return code.getvalue()


@pytest.fixture
def moto_lambda(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function in moto's Lambda (GetPolicy/AddPermission), as syncroutes needs it."""
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="ws-routes-lambda", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    client = boto3.client("lambda", region_name=REGION)
    for name in ("ws-routes", "elsewhere"):
        client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="ws_routes.aws_lambda.handler",
            Code={"ZipFile": function_code()},
        )
    monkeypatch.setattr(deploy_aws, "lambda_client", lambda gateway: client)
    return client


def synced(ws_gateway: ApiGateway, settings: Any, arn: str = FUNCTION_ARN) -> ApiGateway:
    ws_gateway.target_lambda_arn = arn
    ws_gateway.domain_name = ""
    ws_gateway.save()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}  # Lambda needs none
    sync_gateway(ws_gateway)
    ws_gateway.refresh_from_db()
    return ws_gateway


def test_routes_syncroutes_deployed_with_aws_proxy_invoke_the_handler(
    aws, moto_lambda, ws_gateway, settings
):
    gateway = synced(ws_gateway, settings)
    local = aws.gateway
    [integration, *_] = aws.get_integrations(ApiId=gateway.api_id)["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"

    async def scenario() -> tuple[Any, Any]:
        async with socket(f"{local.api_endpoint}/production/?channel=lobby") as ws:
            await ws.send_str(json.dumps({"action": "chat.send", "id": 1}))
            routed = json.loads(await ws.receive_str(timeout=5))
            await ws.send_str("plain text")
            default = json.loads(await ws.receive_str(timeout=5))
        return routed, default

    routed, default = run(scenario())
    assert routed == {"echo": json.dumps({"action": "chat.send", "id": 1})}  # route response
    assert default == {"echo": "plain text"}
    RECORDER.wait_for("DISCONNECT")
    for event in RECORDER.events:
        assert event["requestContext"]["apiId"] == gateway.api_id
        assert event["requestContext"]["stage"] == "production"
    assert [e["requestContext"]["routeKey"] for e in RECORDER.events] == [
        "$connect",
        "chat.send",
        "$default",
        "$disconnect",
    ]
    assert RECORDER.of("CONNECT")[0]["queryStringParameters"] == {"channel": "lobby"}
    assert RECORDER.contexts[0].invoked_function_arn == FUNCTION_ARN
    assert RECORDER.contexts[0].function_name == "ws-routes"


def test_a_function_with_no_handler_gives_500_and_says_which(
    aws, moto_lambda, ws_gateway, settings
):
    other = FUNCTION_ARN.replace(":function:ws-routes", ":function:elsewhere")
    synced(ws_gateway, settings, other)
    with gateway_log() as lines:
        status = run(refused(f"{aws.gateway.api_endpoint}/production"))
    assert status == 500
    assert f"no in-process handler for Lambda function {other}" in lines.getvalue()
    assert RECORDER.events == []


# -- ws_routes.aws_lambda.handler through the gateway, end to end --------------------------------


@pytest.fixture
def django_lambda_gateway(settings: Any) -> Iterator[LocalGateway]:
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LAMBDA_GATEWAYS": ["localws001/local"]}
    reset_gateway_cache()
    environment = {"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret"}

    with (
        mock.patch.dict(os.environ, environment),
        LocalGateway(
            lambda_handlers={"*": django_handler},
            route_keys=frozenset(router.routes),
            management_credentials={"AKIDLOCAL": "local-secret"},
        ) as gateway,
    ):
        settings.WS_ROUTES = {
            **settings.WS_ROUTES,
            "MANAGEMENT_ENDPOINT": gateway.management_endpoint,
        }
        reset = getattr(sending, "reset_sender", None)
        if reset is not None:
            reset()
        yield gateway
    reset_gateway_cache()


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{check} never became true"
        time.sleep(0.02)
    return result


@pytest.mark.django_db(transaction=True)
def test_the_django_handler_connects_replies_pushes_and_disconnects(django_lambda_gateway, alice):
    gateway = django_lambda_gateway
    token = ConnectToken.mint(alice)

    async def scenario() -> tuple[Any, ...]:
        url = f"{gateway.url}/?channel=lobby&token={token}"
        async with socket(url, headers={"Origin": ORIGIN}) as ws:
            await ws.send_str(json.dumps({"action": "echo", "id": 7, "x": 1}))
            echo = json.loads(await ws.receive_str(timeout=5))
            await ws.send_str(json.dumps({"action": "chat.send", "id": 8, "text": "hi"}))
            frames = [json.loads(await ws.receive_str(timeout=5)) for _ in range(2)]
            await ws.send_str(json.dumps({"action": "boom", "id": 9}))
            boom = json.loads(await ws.receive_str(timeout=5))
        anonymous = await refused(f"{gateway.url}/?channel=forbidden")
        return echo, frames, boom, anonymous

    echo, frames, boom, forbidden = run(scenario(), timeout=20)
    assert echo == {"action": "echo", "id": 7, "data": {"body": {"x": 1}, "user": "alice"}}
    # The push went out through @connections (session.send in the handler's thread).
    assert {"from": "alice", "text": "hi"} in frames
    assert {"action": "chat.send", "id": 8, "data": {"ok": True}} in frames
    assert boom["error"]["code"] == "internal_error" and "hunter2" not in json.dumps(boom)
    assert forbidden == 403
    session = WebSocketSession.objects.get(user=alice)
    assert (session.api_id, session.stage) == ("localws001", "local")
    eventually(lambda: not WebSocketSession.objects.get(pk=session.pk).connected)


@pytest.mark.django_db(transaction=True)
def test_an_api_not_allowed_is_refused_by_the_handler(django_lambda_gateway, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LAMBDA_GATEWAYS": ["someother/local"]}
    assert run(refused(django_lambda_gateway.url)) == 403
    assert not WebSocketSession.objects.exists()


# -- runwsgateway --lambda ----------------------------------------------------------------------


def config_for(*arguments: str) -> Any:
    command = Command()
    parser = command.create_parser("manage.py", "runwsgateway")
    return command.build_config(vars(parser.parse_args(list(arguments))))


def test_the_lambda_option_configures_the_quick_start_stage():
    config = config_for("--lambda", "ws_routes.aws_lambda:handler", "--port", "0")
    assert config.target is None and config.secret is None
    assert config.quick_start_lambda is django_handler
    assert "echo" in (config.route_keys or ())


def test_a_named_function_leaves_the_quick_start_to_target():
    config = config_for(
        "--target",
        "http://127.0.0.1:8000/ws/",
        "--lambda",
        f"{FUNCTION_ARN}=ws_routes.aws_lambda:handler",
    )
    assert config.target and config.quick_start_lambda is None
    assert config.lambda_handlers == {FUNCTION_ARN: django_handler}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no.such.module:handler", "cannot import 'no.such.module'"),
        ("ws_routes.aws_lambda", "expected module.path:function"),
        ("ws_routes.aws_lambda:", "expected module.path:function"),
        ("ws_routes.aws_lambda:no_such_handler", "has no 'no_such_handler'"),
        ("ws_routes.aws_lambda:__all__", "is a list, not a function"),
        ("ws_routes.local_gateway.lambda_proxy:LambdaContext", "is a type, not a function"),
        ("ws_routes.local_gateway.lambda_proxy:LAMBDA_WORKERS", "is a int, not a function"),
        ("ws_routes.aws_lambda:setup_django", "does not take (event, context)"),
        ("tests.test_local_gateway_lambda:a_coroutine", "is async"),
        ("../etc/passwd:x", "expected module.path:function"),
        ("not an arn=ws_routes.aws_lambda:handler", "neither a Lambda function ARN"),
    ],
)
def test_a_lambda_value_that_is_not_a_handler_is_a_command_error_naming_it(value, message):
    with pytest.raises(CommandError) as error:
        call_command("runwsgateway", "--lambda", value, "--port", "0")
    assert repr(value) in str(error.value) and message in str(error.value)


def test_a_second_default_handler_is_refused():
    with pytest.raises(CommandError, match="a second handler without FUNCTION="):
        config_for(
            "--lambda", "ws_routes.aws_lambda:handler", "--lambda", "ws_routes.aws_lambda:invoke"
        )


# -- the example chat in Lambda mode (make demo-lambda) ------------------------------------------


def test_rundemo_lambda_serves_the_chat_through_the_lambda_handler(tmp_path):
    from tests.demo_process import port_is_open, running_demo
    from tests.test_demo import chat

    with running_demo(tmp_path, extra_args=("--lambda",)) as demo:
        asyncio.run(chat(demo))
    assert not port_is_open(demo.http_port) and not port_is_open(demo.gateway_port)
    output = demo.output()
    assert "Traceback" not in output, output[-5000:]
    assert "in-process Lambda handler ws_routes.aws_lambda:handler" in output
    assert "Gateway chat demo: applied" not in output  # nothing synced: the quick-start stage
    # Every WebSocket event went through the gateway's Lambda handler, none to runserver's /ws/.
    assert '"POST /ws/ HTTP' not in output and '"POST /ws/connect' not in output


def test_a_lambda_gateways_emitted_template_is_served_through_the_handler(ws_gateway, settings):
    # Issue 22 item 3 with issue 21: the template of a gateway with target_lambda_arn, loaded
    # by runwsgateway --template, invokes the --lambda handler of that function.
    from ws_routes.deploy.cloudformation import emit_template
    from ws_routes.local_gateway.template import load_template

    ws_gateway.target_lambda_arn = FUNCTION_ARN
    ws_gateway.domain_name = ""
    ws_gateway.save()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}
    body = emit_template(ws_gateway).body
    RECORDER.events.clear()
    with LocalGateway(lambda_handlers={FUNCTION_ARN: RECORDER}) as gateway:
        loaded = load_template(gateway.server.control_plane.operations, body, {})
        assert "Lambda::Permission" in " ".join(loaded.notes)  # skipped, and said so

        async def scenario() -> Any:
            url = f"{gateway.api_endpoint}/{loaded.stages[0]}/?channel=lobby"
            async with socket(url) as ws:
                await ws.send_str(json.dumps({"action": "chat.send", "id": 1}))
                return json.loads(await ws.receive_str(timeout=5))

        assert run(scenario()) == {"echo": json.dumps({"action": "chat.send", "id": 1})}
    RECORDER.wait_for("DISCONNECT")
    assert RECORDER.of("CONNECT")[0]["requestContext"]["apiId"] == loaded.api_id
