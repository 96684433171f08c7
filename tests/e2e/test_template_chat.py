"""End to end through the example chat's own emitted template (issue 22, "Runs locally").

``syncroutes --emit cloudformation``'s code writes the chat's template; the local gateway loads
it (in-process, and through ``runwsgateway --template FILE`` itself) in front of Django's live
server, and the chat works through it: connect with a cookie and with a one-time token,
``channel.subscribe``, ``chat.send``, and the push reaches both sockets through ``@connections``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from django.test import Client

from example_project.chat import ws as chat_ws
from tests.e2e.support import run
from ws_routes import sending
from ws_routes.deploy.cloudformation import SECRET_PARAMETER, emit_template
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.template import load_template
from ws_routes.local_gateway.template_input import parse_template
from ws_routes.models import ApiGateway, ConnectToken

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent.parent
ORIGIN = "https://app.example.com"  # in tests.settings' ALLOWED_ORIGINS
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret"}


@pytest.fixture
def chat_template(live_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The chat mounted at /ws/ of the live server, and its template's text (by format)."""
    settings.ROOT_URLCONF = "example_project.urls"
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)  # what Django's sender signs with, and the gateway takes
    row = ApiGateway.objects.create(
        api_name="example-chat",
        target_base_endpoint="https://chat.example.com/ws/",  # production: rebased below
        region="us-east-1",
        stage_name="demo",
    )
    return lambda fmt: emit_template(row, chat_ws.router).render(fmt)


@contextmanager
def aimed_at(settings: Any, management_endpoint: str) -> Iterator[None]:
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MANAGEMENT_ENDPOINT": management_endpoint}
    sending.reset_sender()  # the sender caches clients per endpoint
    yield
    sending.reset_sender()


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


class Frames:
    """What one socket received, kept in order: ``await frames.first(wanted)`` looks back too."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def first(self, wanted: Any, timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for frame in self.seen:
                if wanted(frame):
                    self.seen.remove(frame)
                    return frame
            left = max(0.01, deadline - loop.time())
            self.seen.append(json.loads(await self.ws.receive_str(timeout=left)))


async def chat_scenario(url: str, alice_cookie: str, bob_token: str) -> dict[str, Any]:
    """Alice (cookie) and Bob (token) in room:kitchen; Alice speaks, both get the message."""
    origin = {"Origin": ORIGIN}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{url}/?channel=room:kitchen", headers={"Cookie": alice_cookie, **origin}
        ) as alice,
        http.ws_connect(f"{url}/?token={bob_token}", headers=origin) as bob,
    ):
        a, b = Frames(alice), Frames(bob)
        await bob.send_str(json.dumps({"action": "channel.subscribe", "channel": "room:kitchen"}))
        subscribed = await b.first(lambda f: f.get("action") == "channel.subscribe")
        await alice.send_str(json.dumps({"action": "chat.send", "id": 1, "text": "tea?"}))
        reply = await a.first(lambda f: f.get("action") == "chat.send")
        pushed_alice = await a.first(lambda f: f.get("type") == "chat.message")
        pushed_bob = await b.first(lambda f: f.get("type") == "chat.message")
        await bob.send_str(json.dumps({"action": "chat.send", "text": "x" * 501}))
        refused = await b.first(lambda f: f.get("action") == "chat.send")
        return {
            "subscribed": subscribed,
            "reply": reply,
            "alice": pushed_alice,
            "bob": pushed_bob,
            "refused": refused,
        }


def check(outcome: dict[str, Any]) -> None:
    assert outcome["subscribed"]["data"]["subscribed"] is True
    assert outcome["reply"] == {"action": "chat.send", "id": 1, "data": {"delivered": 2}}
    for who in ("alice", "bob"):
        message = outcome[who]
        assert (message["from"], message["text"], message["room"]) == ("alice", "tea?", "kitchen")
    assert outcome["alice"] == outcome["bob"]
    assert outcome["refused"]["error"]["code"] == "invalid_message"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_the_chat_runs_from_its_own_template(chat_template, live_server, settings, alice, bob, fmt):
    body = parse_template(chat_template(fmt))
    gateway = LocalGateway(
        stage="demo", management_credentials={KEYS["AWS_ACCESS_KEY_ID"]: "local-secret"}
    )
    loaded = load_template(
        gateway.server.control_plane.operations,
        body,
        {SECRET_PARAMETER: settings.GATEWAY_SECRET},
        integration_origin=live_server.url,
    )
    assert loaded.stages == ["demo"]
    cookie, token = session_cookie(alice), ConnectToken.mint(bob)
    with gateway, aimed_at(settings, gateway.management_endpoint):
        outcome = run(chat_scenario(gateway.url, cookie, token), timeout=30)
    check(outcome)


def test_the_chat_runs_from_runwsgateway_template(
    chat_template, live_server, settings, alice, bob, tmp_path
):
    path = tmp_path / "chat.template.yaml"
    path.write_text(chat_template("yaml"), encoding="utf-8")
    env = {**os.environ, **KEYS, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "runwsgateway",
            "--port=0",
            f"--template={path}",
            f"--parameter={SECRET_PARAMETER}={settings.GATEWAY_SECRET}",
            f"--integration-origin={live_server.url}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Quit with"):
                break
        text = "".join(banner)
        assert "Loaded the template of gateway 'example-chat'" in text, text
        assert "note: skipped SenderPolicy (AWS::IAM::ManagedPolicy)" in text
        url = re.search(r"listening on (ws://127\.0\.0\.1:\d+/demo)", text).group(1)  # type: ignore[union-attr]
        cookie, token = session_cookie(alice), ConnectToken.mint(bob)
        with aimed_at(settings, url.replace("ws://", "http://")):
            outcome = run(chat_scenario(url, cookie, token), timeout=30)
        check(outcome)
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()
