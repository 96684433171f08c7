"""The local API Gateway against a stub backend: header contract, routes, limits, @connections.

Real WebSocket clients (aiohttp's) and a raw-frame client for what real clients never send;
plain boto3 ``apigatewaymanagementapi`` clients for the management API.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from itertools import count

import aiohttp
import pytest
import yarl
from botocore.exceptions import ClientError

from tests.e2e.support import (
    RawWebSocket,
    Reply,
    StubBackend,
    echo,
    frame,
    management_client,
    run,
)
from ws_routes.local_gateway import GatewayConfig, LocalGateway, new_connection_id

SECRET = "gateway-test-secret-0123456789abcdef"
KB = 1024
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leftover:
            return
        time.sleep(0.01)
    raise AssertionError(f"threads left behind: {leftover}")


@pytest.fixture
def backend():
    stub = StubBackend().start()
    yield stub
    stub.stop()


@pytest.fixture
def make_gateway(backend):
    started: list[LocalGateway] = []

    def make(**options) -> LocalGateway:
        options.setdefault("secret", SECRET)
        # What management_client() signs with (the @connections API always checks SigV4).
        options.setdefault("management_credentials", LOCAL_CREDENTIALS)
        target = options.pop("target", backend.url)
        gateway = LocalGateway(target, **options).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway) -> LocalGateway:
    return make_gateway()


@asynccontextmanager
async def client(gateway: LocalGateway, path: str = "/", **kwargs):
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(gateway.url + path, **kwargs) as ws,
    ):
        yield ws


async def request(ws, payload) -> dict:
    await ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))
    return json.loads(await ws.receive_str(timeout=5))


async def whoami(ws) -> str:
    return (await request(ws, {"action": "whoami"}))["connectionId"]


LOCAL_CREDENTIALS = {"AKIDLOCAL": "local-secret"}


def sign(method: str, url: str, body: bytes = b"") -> dict[str, str]:
    """SigV4 headers for a raw request, as management_client() would sign it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials("AKIDLOCAL", "local-secret"), "execute-api", "us-east-1").add_auth(
        request
    )
    return dict(request.headers.items())


def sequence_ids(*ids: str):
    """A connection id factory returning ``ids`` in turn (then AWS-like ones)."""
    queue = list(ids)
    return lambda: queue.pop(0) if queue else new_connection_id()


# -- CONNECT: the header contract ---------------------------------------------------------------


def test_connect_sends_the_header_contract_and_forwards_the_handshake(gateway, backend):
    async def scenario():
        async with client(
            gateway,
            "/?token=abc%2B1&channel=lobby",
            headers={"Cookie": "sessionid=s1", "Origin": "https://app.example.com"},
        ) as ws:
            connection_id = await whoami(ws)
        return connection_id

    connection_id = run(scenario())
    connect = backend.wait_for("CONNECT")
    headers = connect.headers
    assert headers["X-Ws-Secret"] == SECRET
    assert headers["X-Ws-Connection-Id"] == connection_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", connection_id)
    assert headers["X-Ws-Event"] == "CONNECT"
    assert headers["X-Ws-Route"] == "$connect"
    assert headers["X-Ws-Source-Ip"] == "127.0.0.1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", headers["X-Ws-Request-Id"])
    assert headers["X-Ws-Api-Id"] == "localws001"
    assert headers["X-Ws-Stage"] == "local"
    assert headers["Cookie"] == "sessionid=s1"
    assert headers["Origin"] == "https://app.example.com"
    assert "Python" in headers["User-Agent"]  # aiohttp's client
    assert connect.query_string == "token=abc%2B1&channel=lobby"
    assert connect.path == "/ws/"
    assert connect.body == b""
    message = backend.wait_for("MESSAGE")
    assert message.headers["X-Ws-Request-Id"] != headers["X-Ws-Request-Id"]
    assert message.headers["X-Ws-Secret"] == SECRET
    disconnect = backend.wait_for("DISCONNECT", connection_id)
    assert disconnect.headers["X-Ws-Route"] == "$disconnect"
    assert disconnect.query_string == "" and disconnect.body == b""


def test_query_string_is_appended_to_a_target_that_has_one(make_gateway, backend):
    gateway = make_gateway(target=backend.url + "?fixed=1", api_id="abcdef1234", stage="prod")

    async def scenario():
        async with client(gateway, "?token=t") as ws:  # gateway.url ends in /prod
            await whoami(ws)

    run(scenario())
    connect = backend.wait_for("CONNECT")
    assert connect.query_string == "fixed=1&token=t"
    assert (connect.headers["X-Ws-Api-Id"], connect.headers["X-Ws-Stage"]) == ("abcdef1234", "prod")
    assert backend.wait_for("MESSAGE").query_string == "fixed=1"


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
def test_refused_connect_shows_the_status_and_opens_nothing(gateway, backend, status):
    backend.respond = lambda event: Reply(status=status, body=b'{"secret": "do not leak"}')

    async def scenario():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with client(gateway):
                pass
        assert refused.value.status == status
        raw_status, raw = await RawWebSocket.connect(gateway.port)
        body = raw.head + await raw.read_body()
        await raw.close()
        return raw_status, body

    raw_status, body = run(scenario())
    assert raw_status == status
    assert b"do not leak" not in body  # $connect's body never reaches the client
    assert len(backend.of("CONNECT")) == 2
    assert backend.of("DISCONNECT") == []
    assert gateway.connection_ids() == []


def test_redirecting_target_is_not_followed(gateway, backend):
    backend.respond = lambda event: Reply(status=301, headers={"Location": "/ws"})

    async def scenario():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with client(gateway):
                pass
        return refused.value.status

    assert run(scenario()) == 301
    assert len(backend.events) == 1


def test_subprotocol_chosen_by_django_is_accepted(gateway, backend):
    def respond(event):
        if event.event == "CONNECT":
            assert event.headers["Sec-WebSocket-Protocol"] == "v2.chat,v1.chat"
            return Reply(headers={"Sec-WebSocket-Protocol": "v1.chat"})
        return Reply()

    backend.respond = respond

    async def scenario():
        async with client(gateway, protocols=("v2.chat", "v1.chat")) as ws:
            return ws.protocol

    assert run(scenario()) == "v1.chat"


def test_plain_http_gets_upgrade_required(gateway, backend):
    async def scenario():
        async with (
            aiohttp.ClientSession() as session,
            session.get(gateway.management_endpoint + "/") as response,
        ):
            return response.status, await response.text()

    status, text = run(scenario())
    assert status == 426 and "WebSocket" in text
    assert backend.events == []


def test_overlong_url_is_refused_before_django(gateway, backend):
    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port, "/local?q=" + "x" * 5000)
        await raw.close()
        return status

    assert run(scenario()) == 414
    assert backend.events == []


# -- messages: route selection, route responses ------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "route"),
    [
        ({"action": "chat.send", "text": "hi"}, "chat.send"),
        ({"action": "nope"}, "$default"),  # not a route of this API
        ({"action": "$connect"}, "$default"),
        ({"action": 5}, "$default"),
        ({"text": "no action"}, "$default"),
        ([{"action": "chat.send"}], "$default"),
        ("not json at all", "$default"),
        ('{"action": "chat.send"', "$default"),  # truncated JSON
        ("[" * 16_000 + "]" * 16_000, "$default"),  # deeper than Python's stack
    ],
)
def test_route_selection(make_gateway, backend, payload, route):
    gateway = make_gateway(route_keys={"chat.send", "whoami"})

    async def scenario():
        async with client(gateway) as ws:
            return await request(ws, payload)

    reply = run(scenario())
    assert reply["route"] == route
    message = backend.wait_for("MESSAGE")
    assert message.route == route
    sent = payload if isinstance(payload, str) else json.dumps(payload)
    assert message.body == sent.encode()
    assert message.headers["Content-Type"] == "application/json"
    assert message.query_string == ""


def test_without_known_routes_any_string_action_is_a_route(make_gateway, backend):
    gateway = make_gateway(route_selection_key="type")

    async def scenario():
        async with client(gateway) as ws:
            first = await request(ws, {"type": "anything.at:all"})
            second = await request(ws, {"action": "ignored"})
            return first, second

    first, second = run(scenario())
    assert first["route"] == "anything.at:all"
    assert second["route"] == "$default"


def test_binary_frames_close_with_1003_and_binary_replies_come_back_binary(gateway, backend):
    # AWS: binary frames in incoming payloads are not supported; the socket closes with 1003.
    backend.respond = lambda event: Reply(body=b"\xff\x00reply" * (event.event == "MESSAGE"))

    async def scenario():
        async with client(gateway) as ws:
            await ws.send_str('{"action": "x"}')
            message = await ws.receive(timeout=5)
            await ws.send_bytes(b"\x00\x01\xfe")
            closed = await ws.receive(timeout=5)
            return message.type, message.data, closed.type, ws.close_code

    kind, data, closed, code = run(scenario())
    assert (kind, data) == (aiohttp.WSMsgType.BINARY, b"\xff\x00reply")
    assert (closed, code) == (aiohttp.WSMsgType.CLOSE, 1003)
    backend.wait_for("DISCONNECT")
    assert [m.body for m in backend.of("MESSAGE")] == [b'{"action": "x"}']


def test_empty_reply_sends_nothing_and_error_replies_are_sent(gateway, backend):
    def respond(event):
        if event.event != "MESSAGE":
            return Reply()
        body = json.loads(event.body)
        if body["action"] == "quiet":
            return Reply(status=200, body=b"")
        return Reply(status=400, body=b'{"error": {"code": "bad"}}')

    backend.respond = respond

    async def scenario():
        async with client(gateway) as ws:
            await ws.send_str('{"action": "quiet"}')
            await ws.send_str('{"action": "loud"}')
            first = await ws.receive_str(timeout=5)
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.2)
            return first

    assert json.loads(run(scenario())) == {"error": {"code": "bad"}}


def test_backend_down_gives_aws_errors(make_gateway):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/ws/"
    gateway = make_gateway(target=dead)

    async def scenario():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with client(gateway):
                pass
        return refused.value.status

    assert run(scenario()) == 500


def test_backend_going_down_after_connect_sends_internal_server_error_frame(gateway, backend):
    async def scenario():
        async with client(gateway) as ws:
            connection_id = await whoami(ws)
            await asyncio.to_thread(backend.stop)
            return connection_id, await request(ws, {"action": "x"})

    connection_id, reply = run(scenario())
    assert reply["message"] == "Internal server error"
    assert reply["connectionId"] == connection_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", reply["requestId"])


def test_integration_timeout_sends_endpoint_request_timed_out(make_gateway, backend):
    gateway = make_gateway(integration_timeout=0.3)
    backend.respond = lambda event: Reply(delay=1.0 if event.event == "MESSAGE" else 0)

    async def scenario():
        async with client(gateway) as ws:
            started = time.monotonic()
            reply = await request(ws, {"action": "slow"})
            return reply, time.monotonic() - started

    reply, elapsed = run(scenario())
    assert reply["message"] == "Endpoint request timed out"
    assert reply["connectionId"] == backend.wait_for("CONNECT").connection_id
    assert reply["requestId"] == backend.wait_for("MESSAGE").headers["X-Ws-Request-Id"]
    assert 0.25 < elapsed < 0.9


def test_connect_timeout_is_504(make_gateway, backend):
    gateway = make_gateway(integration_timeout=0.2)
    backend.respond = lambda event: Reply(delay=1.0)

    async def scenario():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with client(gateway):
                pass
        return refused.value.status

    assert run(scenario()) == 504
    assert gateway.connection_ids() == []


def test_messages_are_handled_concurrently(gateway, backend):
    def respond(event):
        if event.event != "MESSAGE":
            return Reply()
        body = json.loads(event.body)
        return Reply(body=json.dumps(body), delay=body["delay"])

    backend.respond = respond

    async def scenario():
        async with client(gateway) as ws:
            await ws.send_str(json.dumps({"action": "a", "id": 1, "delay": 0.5}))
            await ws.send_str(json.dumps({"action": "a", "id": 2, "delay": 0.0}))
            first = json.loads(await ws.receive_str(timeout=5))
            second = json.loads(await ws.receive_str(timeout=5))
            return first["id"], second["id"]

    assert run(scenario()) == (2, 1)


# -- DISCONNECT ----------------------------------------------------------------------------------


def test_client_close_sends_disconnect(gateway, backend):
    async def scenario():
        async with client(gateway) as ws:
            connection_id = await whoami(ws)
        return connection_id

    connection_id = run(scenario())
    disconnect = backend.wait_for("DISCONNECT", connection_id)
    assert disconnect.headers["X-Ws-Secret"] == SECRET
    assert disconnect.headers["X-Ws-Source-Ip"] == "127.0.0.1"
    deadline = time.monotonic() + 2
    while connection_id in gateway.connection_ids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert connection_id not in gateway.connection_ids()


def test_vanishing_client_still_sends_disconnect(gateway, backend):
    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)
        assert status == 101
        connection_id = backend.wait_for("CONNECT").connection_id
        raw.abort()
        return connection_id

    connection_id = run(scenario())
    backend.wait_for("DISCONNECT", connection_id)
    assert gateway.connection_ids() == []


@pytest.mark.parametrize(
    ("garbage", "code"),
    [
        (b"\xff" * 64, 1002),  # reserved bits, unknown opcode
        (frame(TEXT, b"\xc3\x28 invalid utf-8"), 1007),
        (frame(0x9, b"p" * 126), 1002),  # control frame over 125 bytes
        (frame(0x3, b"reserved opcode"), 1002),
    ],
)
def test_garbage_frames_close_the_socket_and_disconnect(gateway, backend, garbage, code):
    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)
        assert status == 101
        raw.write(garbage)
        close_code = await raw.read_close()
        await raw.close()
        return close_code

    assert run(scenario()) == code
    connection_id = backend.wait_for("CONNECT").connection_id
    backend.wait_for("DISCONNECT", connection_id)
    assert backend.of("MESSAGE") == []


# -- limits --------------------------------------------------------------------------------------


def test_frame_over_32_kb_closes_with_1009_and_reaches_nobody(gateway, backend):
    async def scenario():
        async with client(gateway) as ws:
            reply = await request(ws, {"action": "x", "pad": "a" * (32 * KB - 40)})
            await ws.send_str(json.dumps({"action": "x", "pad": "a" * (32 * KB)}))
            message = await ws.receive(timeout=5)
            return reply, message.type, message.data

    reply, kind, code = run(scenario())
    assert reply["route"] == "x"  # a 32 KB frame passes
    assert kind == aiohttp.WSMsgType.CLOSE
    assert code == 1009
    assert len(backend.of("MESSAGE")) == 1
    backend.wait_for("DISCONNECT")


def test_128_kb_message_in_32_kb_frames_passes_and_one_byte_more_closes(gateway, backend):
    def fragments(message: bytes) -> bytes:
        chunks = [message[i : i + 32 * KB] for i in range(0, len(message), 32 * KB)]
        return b"".join(
            frame(TEXT if i == 0 else 0x0, chunk, fin=i == len(chunks) - 1)
            for i, chunk in enumerate(chunks)
        )

    backend.respond = lambda event: Reply(body=json.dumps({"size": len(event.body)}))
    exact = json.dumps({"action": "big", "pad": ""}).encode()
    exact = exact[:-2] + b"a" * (128 * KB - len(exact)) + b'"}'
    assert len(exact) == 128 * KB

    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)
        assert status == 101
        raw.write(fragments(exact))
        opcode, payload = await raw.read_frame()
        assert opcode == TEXT and json.loads(payload) == {"size": 128 * KB}
        raw.write(fragments(exact + b" "))
        code = await raw.read_close()
        await raw.close()
        return code

    assert run(scenario()) == 1009
    messages = backend.of("MESSAGE")
    assert [len(m.body) for m in messages] == [128 * KB]


def test_frames_dribbled_byte_by_byte_still_parse(gateway, backend):
    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)
        assert status == 101
        # header of 2 bytes, 2+2 bytes (126) and a control frame in between fragments
        await raw.dribble(frame(TEXT, b'{"action": "a", ', fin=False))
        await raw.dribble(frame(0x9, b"ping"))
        await raw.dribble(frame(0x0, b'"pad": "' + b"b" * 300 + b'"}'))
        opcodes = []
        while True:
            opcode, payload = await raw.read_frame()
            opcodes.append(opcode)
            if opcode == TEXT:
                break
        await raw.close()
        return opcodes, json.loads(payload)

    opcodes, reply = run(scenario())
    assert opcodes == [0xA, TEXT]  # the pong, then the route response
    assert reply["route"] == "a"
    assert len(backend.wait_for("MESSAGE").body) == len(b'{"action": "a", "pad": ""}') + 300


def test_idle_connection_is_closed_with_1001(make_gateway, backend):
    gateway = make_gateway(idle_timeout=0.3)

    async def scenario():
        async with client(gateway) as ws:
            started = time.monotonic()
            for _ in range(4):  # activity keeps it open past the idle timeout
                await asyncio.sleep(0.15)
                await request(ws, {"action": "keepalive"})
            assert time.monotonic() - started > 0.5
            message = await ws.receive(timeout=5)
            return message.type, message.data, time.monotonic() - started

    kind, code, elapsed = run(scenario())
    assert kind == aiohttp.WSMsgType.CLOSE and code == 1001
    backend.wait_for("DISCONNECT")


def test_pushes_to_the_client_count_as_activity(make_gateway, backend):
    gateway = make_gateway(idle_timeout=0.4)
    api = management_client(gateway.management_endpoint)

    async def scenario():
        async with client(gateway) as ws:
            connection_id = await whoami(ws)
            started = time.monotonic()
            for _ in range(5):  # 1 s of pushes, 0.2 s apart, and the client never sends
                await asyncio.sleep(0.2)
                await asyncio.to_thread(
                    api.post_to_connection, ConnectionId=connection_id, Data=b"p"
                )
                assert await ws.receive_str(timeout=5) == "p"
            message = await ws.receive(timeout=5)
            return message.data, time.monotonic() - started

    code, elapsed = run(scenario())
    assert code == 1001 and elapsed > 1.0


def test_connection_lifetime_is_capped_even_with_traffic(make_gateway, backend):
    gateway = make_gateway(max_lifetime=0.5)

    async def scenario():
        async with client(gateway) as ws:
            started = time.monotonic()
            while not ws.closed and time.monotonic() - started < 3:
                await ws.send_str('{"action": "busy"}')
                message = await ws.receive(timeout=5)
                if message.type == aiohttp.WSMsgType.CLOSE:
                    return message.data, time.monotonic() - started
            return None, time.monotonic() - started

    code, elapsed = run(scenario())
    assert code == 1001
    assert 0.45 < elapsed < 1.5


def test_idle_raw_client_that_never_sends_is_closed(make_gateway, backend):
    gateway = make_gateway(idle_timeout=0.2)

    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)
        assert status == 101
        code = await raw.read_close()
        await raw.close()
        return code

    assert run(scenario()) == 1001
    backend.wait_for("DISCONNECT")


# -- the management API --------------------------------------------------------------------------


def test_post_get_delete_with_boto3(make_gateway, backend):
    odd_id = "a+b/c=d%e f?g=="  # every character a path must encode
    gateway = make_gateway(connection_id_factory=sequence_ids(odd_id))
    api = management_client(gateway.management_endpoint)

    async def scenario():
        async with client(gateway, headers={"User-Agent": "pytest-agent/1"}) as ws:
            assert await whoami(ws) == odd_id
            before = datetime.now(timezone.utc)
            await asyncio.to_thread(api.post_to_connection, ConnectionId=odd_id, Data=b"hello")
            assert await ws.receive_str(timeout=5) == "hello"
            await asyncio.to_thread(
                api.post_to_connection, ConnectionId=odd_id, Data=b"\x00\xffbin"
            )
            assert await ws.receive_bytes(timeout=5) == b"\x00\xffbin"
            info = await asyncio.to_thread(api.get_connection, ConnectionId=odd_id)
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "pytest-agent/1"}
            assert isinstance(info["ConnectedAt"], datetime)
            assert info["ConnectedAt"] <= info["LastActiveAt"]
            assert info["LastActiveAt"] >= before - timedelta(seconds=1)
            await asyncio.to_thread(api.delete_connection, ConnectionId=odd_id)
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert message.data == 1000

    run(scenario())
    backend.wait_for("DISCONNECT", odd_id)
    for call in (
        lambda: api.post_to_connection(ConnectionId=odd_id, Data=b"late"),
        lambda: api.get_connection(ConnectionId=odd_id),
        lambda: api.delete_connection(ConnectionId=odd_id),
    ):
        with pytest.raises(api.exceptions.GoneException):
            call()


@pytest.mark.parametrize(
    "connection_id", ["nope", "a/b", "../x", "..", "%2e%2e", "x" * 2000, "é", "\x00"]
)
def test_unknown_ids_are_gone(gateway, connection_id):
    api = management_client(gateway.management_endpoint)
    with pytest.raises(api.exceptions.GoneException) as gone:
        api.post_to_connection(ConnectionId=connection_id, Data=b"x")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    assert gone.value.response["Error"]["Message"].startswith("Connection ")


def test_raw_management_requests(gateway):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            base = gateway.management_endpoint
            results = {}
            for name, method, path, data in [
                ("gone", "POST", "/@connections/abc%3D", b"x"),
                ("slash", "POST", "/@connections/a/b", b"x"),
                ("empty", "POST", "/@connections/", b"x"),
                ("method", "PUT", "/@connections/abc", b"x"),
                ("big", "POST", "/@connections/abc", b"x" * (128 * KB + 1)),
            ]:
                url = yarl.URL(base + path, encoded=True)  # sent exactly as signed
                async with session.request(
                    method, url, data=data, headers=sign(method, base + path, data)
                ) as response:
                    results[name] = (
                        response.status,
                        response.headers.get("x-amzn-ErrorType"),
                        await response.json(),
                    )

            async def chunks():
                for _ in range(5):
                    yield b"y" * (32 * KB)

            async with session.post(base + "/@connections/abc", data=chunks()) as response:
                results["chunked"] = (response.status, response.headers.get("x-amzn-ErrorType"))
            root = gateway.control_plane_endpoint
            for name, path in [("other stage", "/prod"), ("no stage", ""), ("nested", "/a/b")]:
                async with session.post(f"{root}{path}/@connections/abc", data=b"x") as response:
                    results[name] = (response.status, await response.json())
            return results

    results = run(scenario())
    assert results["gone"][:2] == (410, "GoneException")
    assert "abc=" in results["gone"][2]["message"]
    # a wrong stage is refused as AWS refuses it (403 {"message": "Forbidden"})
    for name in ("other stage", "no stage", "nested"):
        assert results[name] == (403, {"message": "Forbidden"}), name
    assert results["slash"][0] == 404
    assert results["empty"][0] == 404
    assert results["method"][0] == 405
    assert results["big"][:2] == (413, "PayloadTooLargeException")
    assert results["chunked"] == (413, "PayloadTooLargeException")


def test_payload_too_large_with_boto3(gateway):
    api = management_client(gateway.management_endpoint)
    with pytest.raises(ClientError) as error:
        api.post_to_connection(ConnectionId="whatever", Data=b"x" * (128 * KB + 1))
    assert error.value.response["Error"]["Code"] == "PayloadTooLargeException"


def test_post_before_connect_returned_is_gone(gateway, backend):
    api = management_client(gateway.management_endpoint)
    seen: list[str] = []

    def respond(event):
        if event.event == "CONNECT":  # Django pushing during $connect: AWS says 410
            try:
                api.post_to_connection(ConnectionId=event.connection_id, Data=b"too early")
            except api.exceptions.GoneException:
                seen.append("gone")
        return echo(event)

    async def async_respond(event):
        return await asyncio.to_thread(respond, event)

    backend.respond = async_respond

    async def scenario():
        async with client(gateway) as ws:
            await whoami(ws)

    run(scenario())
    assert seen == ["gone"]


def test_sigv4_is_verified_when_credentials_are_configured(make_gateway):
    gateway = make_gateway(management_credentials={"AKIDLOCAL": "local-secret"})
    good = management_client(gateway.management_endpoint)
    wrong_secret = management_client(gateway.management_endpoint, secret="nope")
    wrong_key = management_client(gateway.management_endpoint, key="AKIDOTHER")

    async def scenario():
        async with client(gateway) as ws:
            connection_id = await whoami(ws)
            odd = connection_id + "/../x y"
            for api in (good,):
                await asyncio.to_thread(
                    api.post_to_connection, ConnectionId=connection_id, Data=b"signed"
                )
                assert await ws.receive_str(timeout=5) == "signed"
                with pytest.raises(api.exceptions.GoneException):  # signature fine, id unknown
                    await asyncio.to_thread(api.get_connection, ConnectionId=odd)
            for api in (wrong_secret, wrong_key):
                with pytest.raises(api.exceptions.ForbiddenException):
                    await asyncio.to_thread(
                        api.post_to_connection, ConnectionId=connection_id, Data=b"forged"
                    )
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{gateway.management_endpoint}/@connections/{connection_id}", data=b"x"
                ) as response,
            ):
                unsigned = response.status
            return unsigned

    assert run(scenario()) == 403


def test_slow_reader_gets_limit_exceeded_not_a_hang(make_gateway, backend):
    gateway = make_gateway(max_client_buffer_bytes=64 * KB)
    api = management_client(gateway.management_endpoint)

    async def scenario():
        status, raw = await RawWebSocket.connect(gateway.port)  # never reads
        assert status == 101
        connection_id = backend.wait_for("CONNECT").connection_id
        codes = []
        started = time.monotonic()
        for _ in range(400):
            try:
                await asyncio.to_thread(
                    api.post_to_connection, ConnectionId=connection_id, Data=b"z" * (64 * KB)
                )
                codes.append(200)
            except ClientError as error:
                codes.append(error.response["Error"]["Code"])
                break
        await raw.close()
        return codes, time.monotonic() - started

    codes, elapsed = run(scenario(), timeout=30)
    assert codes[-1] == "LimitExceededException"
    assert elapsed < 15


# -- scale and lifecycle -------------------------------------------------------------------------


def test_hundred_concurrent_clients_get_their_own_replies(gateway, backend):
    async def one(session, n):
        async with session.ws_connect(gateway.url) as ws:
            replies = []
            for i in range(3):
                reply = await request(ws, {"action": "n", "n": n, "i": i})
                replies.append(json.loads(reply["echo"]))
            return await whoami(ws), replies

    async def scenario():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            return await asyncio.gather(*(one(session, n) for n in range(100)))

    results = run(scenario(), timeout=30)
    assert len({connection_id for connection_id, _ in results}) == 100
    for n, (_, replies) in enumerate(results):
        assert replies == [{"action": "n", "n": n, "i": i} for i in range(3)]
    deadline = time.monotonic() + 5
    while len(backend.of("DISCONNECT")) < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(backend.of("DISCONNECT")) == 100


def test_slow_handshake_does_not_block_others(gateway, backend):
    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ... and never finishes
        async with client(gateway) as ws:
            reply = await request(ws, {"action": "x"})
        writer.close()
        return reply

    assert run(scenario())["route"] == "x"


def test_slowloris_handshake_is_cut_off(make_gateway, backend):
    gateway = make_gateway(http_idle_timeout=0.3)

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")  # never ends
        started = time.monotonic()
        data = await reader.read()  # until the server hangs up
        writer.close()
        return data, time.monotonic() - started

    data, elapsed = run(scenario())
    assert data == b"" and elapsed < 2
    assert backend.events == []


def test_stop_closes_clients_sends_disconnects_and_frees_the_port(backend):
    gateway = LocalGateway(backend.url, secret=SECRET, port=0).start()
    port = gateway.port

    async def scenario():
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(gateway.url) for _ in range(3)]
            ids = [await whoami(ws) for ws in sockets]
            receivers = [asyncio.create_task(ws.receive(timeout=5)) for ws in sockets]
            started = time.monotonic()
            await asyncio.to_thread(gateway.stop)
            assert time.monotonic() - started < 1  # clients answered the close at once
            messages = await asyncio.gather(*receivers)
            for ws in sockets:
                await ws.close()
            return ids, [(message.type, message.data) for message in messages]

    ids, codes = run(scenario())
    assert codes == [(aiohttp.WSMsgType.CLOSE, 1001)] * 3
    assert sorted(e.connection_id for e in backend.of("DISCONNECT")) == sorted(ids)
    with socket.socket() as again:
        # As a restarting server binds (asyncio sets SO_REUSEADDR): the closed connections may
        # sit in TIME_WAIT, but a listener still open would make this fail.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
    gateway.stop()  # idempotent
    with pytest.raises(RuntimeError):
        gateway.url  # noqa: B018


def test_port_in_use_raises_and_leaves_nothing(backend):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            LocalGateway(backend.url, secret=SECRET, port=taken.getsockname()[1]).start()


def test_start_and_stop_from_async_code(backend):
    async def scenario():
        gateway = LocalGateway(backend.url, secret=SECRET, port=0).start()
        try:
            async with client(gateway) as ws:
                return await whoami(ws)
        finally:
            gateway.stop()

    assert run(scenario())


def test_gateway_urls(gateway):
    # AWS: wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}, @connections under /{stage}.
    assert gateway.url == f"ws://127.0.0.1:{gateway.port}/local"
    assert gateway.management_endpoint == f"http://127.0.0.1:{gateway.port}/local"
    assert gateway.api_endpoint == f"ws://127.0.0.1:{gateway.port}"
    assert gateway.control_plane_endpoint == f"http://127.0.0.1:{gateway.port}"


@pytest.mark.parametrize(
    "options",
    [
        {"target": "ftp://x/ws/"},
        {"target": "/ws/"},
        {"target": "http://127.0.0.1:8000/ws/#frag"},
        {"secret": ""},
        {"secret": "two\r\nlines"},
        {"stage": "a\nb"},
        {"idle_timeout": 0},
        {"max_lifetime": -1},
        {"max_frame_bytes": 0},
        {"http_idle_timeout": 0},
        {"port": 70000},
        {"route_selection_key": ""},
        {"route_keys": {""}},
    ],
)
def test_config_is_validated(options):
    settings = {"target": "http://127.0.0.1:8000/ws/", "secret": SECRET, **options}
    with pytest.raises(ValueError):
        GatewayConfig(**settings)


def test_connection_ids_look_like_aws_ones():
    ids = {new_connection_id() for _ in range(2000)}
    assert len(ids) == 2000
    for connection_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", connection_id)


def test_duplicate_ids_from_the_factory_are_skipped(make_gateway, backend):
    counter = count()
    gateway = make_gateway(connection_id_factory=lambda: f"id{next(counter) // 2}=")

    async def scenario():
        async with client(gateway) as first, client(gateway) as second:
            return await whoami(first), await whoami(second)

    first, second = run(scenario())
    assert first != second
