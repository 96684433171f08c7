"""``make demo``'s command, end to end without a browser: rundemo starts Django and the local
gateway, two logged-in users chat over real WebSockets, and SIGTERM stops both servers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.demo_process import port_is_open, running_demo

ROOM = "demo-test"
TIMEOUT = 10


async def log_in(session: aiohttp.ClientSession, base: str, username: str) -> str:
    """Log in through the login form; return the (rotated) CSRF token."""
    async with session.get(f"{base}/accounts/login/") as page:
        assert page.status == 200
    csrf = session.cookie_jar.filter_cookies(URL(base))["csrftoken"].value
    form = {"username": username, "password": username, "csrfmiddlewaretoken": csrf}
    async with session.post(
        f"{base}/accounts/login/?next=/", data=form, allow_redirects=False
    ) as answer:
        assert answer.status == 302, await answer.text()
    return session.cookie_jar.filter_cookies(URL(base))["csrftoken"].value  # rotated at login


async def mint_token(session: aiohttp.ClientSession, base: str, csrf: str) -> str:
    async with session.post(f"{base}/ws/token/", headers={"X-CSRFToken": csrf}) as answer:
        assert answer.status == 200, await answer.text()
        return (await answer.json())["token"]


async def receive_until(ws: aiohttp.ClientWebSocketResponse, wanted) -> list[Any]:
    """Frames (parsed) up to and including the first for which ``wanted(frame)`` is true."""
    frames = []
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(ws.receive_str(), max(remaining, 0)))
        frames.append(frame)
        if wanted(frame):
            return frames


def is_push(kind: str, **fields: Any):
    return lambda f: f.get("type") == kind and all(f.get(k) == v for k, v in fields.items())


def is_reply(message_id: Any):
    return lambda f: "type" not in f and f.get("id") == message_id


async def chat(demo) -> None:
    # unsafe=True: keep cookies of an IP-address host (127.0.0.1), which aiohttp drops by default.
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice_http,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob_http,
    ):
        alice_csrf = await log_in(alice_http, demo.url, "demo")
        bob_csrf = await log_in(bob_http, demo.url, "demo2")
        origin = {"Origin": demo.url}

        token = await mint_token(alice_http, demo.url, alice_csrf)
        room = f"{demo.websocket_url}/?channel=room:{ROOM}&token="
        alice = await alice_http.ws_connect(room + token, headers=origin)

        # A token is single use; a foreign origin and an anonymous visitor are refused.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await alice_http.ws_connect(room + token, headers=origin)
        assert refused.value.status == 401
        other = await mint_token(alice_http, demo.url, alice_csrf)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await alice_http.ws_connect(room + other, headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
        async with aiohttp.ClientSession() as anonymous:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await anonymous.ws_connect(f"{demo.websocket_url}/?channel=room:{ROOM}")
            assert refused.value.status == 401

        bob = await bob_http.ws_connect(
            room + await mint_token(bob_http, demo.url, bob_csrf), headers=origin
        )
        await receive_until(alice, is_push("presence", event="join", user={"username": "demo2"}))

        await bob.send_json({"action": "chat.send", "id": 1, "text": "hello over the gateway"})
        frames = await receive_until(bob, is_reply(1))
        assert frames[-1] == {"action": "chat.send", "id": 1, "data": {"delivered": 2}}
        [heard] = await receive_until(alice, is_push("chat.message"))
        assert (heard["from"], heard["text"], heard["room"]) == (
            "demo2",
            "hello over the gateway",
            ROOM,
        )

        await bob.send_json({"action": "chat.send", "id": "e", "text": "   "})
        [error] = [f for f in await receive_until(bob, is_reply("e")) if "type" not in f]
        assert error["error"]["code"] == "invalid_message"
        assert error["error"]["details"][0]["path"] == "$.text"

        await alice.send_json({"action": "chat.who", "id": 2})
        [who] = [f for f in await receive_until(alice, is_reply(2)) if "type" not in f]
        assert who["data"] == {"room": ROOM, "online": ["demo", "demo2"]}

        await bob.close()
        left = is_push("presence", event="leave", user={"username": "demo2"})
        frames = await receive_until(alice, left)
        assert not any(f.get("text") == "   " for f in frames)  # the invalid one reached no one
        await alice.close()


def test_rundemo_serves_a_working_chat_and_stops_both_servers(tmp_path):
    with running_demo(tmp_path) as demo:
        asyncio.run(chat(demo))
    assert not port_is_open(demo.http_port)
    assert not port_is_open(demo.gateway_port)
    output = demo.output()
    assert "Traceback" not in output, output[-5000:]
    assert "Log in as  demo / demo  and  demo2 / demo2" in output
    # The chat's gateway row was deployed to the (empty) local gateway by syncroutes' code,
    # and the banner gives the admin's staff login.
    assert "+ route chat.send" in output and "Gateway chat demo: applied" in output
    assert "/admin/  as  admin / admin" in output
    assert "Stopping the gateway, then Django" in output
