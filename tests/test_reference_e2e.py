"""The reference package end to end against the local gateway (issue 25 item 5).

django-aws-api-gateway-websockets 4.1.0, installed in ``.venv-reference`` (``make
reference-e2e``), provisions its API with its own ``create_gateway()`` through the local
control plane (``AWS_ENDPOINT_URL_APIGATEWAYV2``), and serves its own ``WebSocketView``
(tests/reference_e2e). A browser-like client logs in, fetches a one-time token, connects with
its cookie, Origin and User-Agent, and exchanges messages; the view's reply comes back through
``@connections``. Skips (saying why) when the reference venv is absent.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.support import run
from ws_routes.local_gateway import LocalGateway

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = ROOT / ".venv-reference" / "bin" / "python"
GATEWAY_SECRET = "reference-e2e-secret-" + "g" * 24
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"


def _reference_missing() -> str | None:
    if not REFERENCE_PYTHON.exists():
        return f"{REFERENCE_PYTHON} is absent: `make reference-e2e` installs the reference package"
    probe = subprocess.run(
        [
            str(REFERENCE_PYTHON),
            "-c",
            "import django; django.setup(); import django_aws_api_gateway_websockets.views",
        ],
        cwd="/",
        env={  # importing its models needs settings: the project's own
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT / "tests"),
            "DJANGO_SETTINGS_MODULE": "reference_e2e.probe_settings",
        },
        capture_output=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return "the reference package is not installed in .venv-reference: make reference-e2e"
    return None


#: ``make reference-e2e`` sets it: there a missing reference package fails instead of skipping.
REQUIRED = bool(os.environ.get("WS_ROUTES_REQUIRE_REFERENCE"))
MISSING = _reference_missing()
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the reference's server exited: {process.stdout.read()!r}")  # type: ignore[union-attr]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the reference's server did not start")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The local gateway, the reference's API provisioned on it, its Django project serving."""
    assert MISSING is None, MISSING
    with LocalGateway(port=0) as gateway:
        key_id, secret_key = gateway.management_credentials.first()
        django_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT / "tests"),
            "DJANGO_SETTINGS_MODULE": "reference_e2e.settings",
            "REFERENCE_E2E_DB": str(tmp_path / "reference.sqlite3"),
            "REFERENCE_E2E_HOST": f"127.0.0.1:{django_port}",
            "REFERENCE_E2E_KEY_ID": key_id,
            "REFERENCE_E2E_SECRET_KEY": secret_key,
            "REFERENCE_E2E_GATEWAY_SECRET": GATEWAY_SECRET,
            "REFERENCE_E2E_GATEWAY": f"http://127.0.0.1:{gateway.port}",
            "AWS_ENDPOINT_URL_APIGATEWAYV2": gateway.control_plane_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        provisioned = subprocess.run(
            [
                str(REFERENCE_PYTHON),
                str(ROOT / "tests" / "reference_e2e" / "provision.py"),
                f"http://127.0.0.1:{django_port}/ws/",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert provisioned.returncode == 0, provisioned.stderr[-3000:]
        facts = json.loads(provisioned.stdout.strip().splitlines()[-1])
        server = subprocess.Popen(
            [str(REFERENCE_PYTHON), "-m", "django", "runserver", "--noreload"]
            + [f"127.0.0.1:{django_port}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening(django_port, server)
            yield {
                **facts,
                "gateway": gateway,
                "django": f"http://127.0.0.1:{django_port}",
                "db": env["REFERENCE_E2E_DB"],
            }
        finally:
            server.terminate()
            server.wait(timeout=10)


async def browser_session(project: dict[str, Any]) -> list[Any]:
    """Log in (cookie), get a one-time token (CSRF), connect, say two things, close."""
    django, gateway = project["django"], project["gateway"]
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, headers={"User-Agent": BROWSER}) as http:
        jar.update_cookies({"sessionid": project["sessionid"]})
        async with http.get(f"{django}/csrf/") as page:
            csrf = (await page.json())["token"]
        async with http.post(f"{django}/ws/token/", headers={"X-CSRFToken": csrf}) as answer:
            assert answer.status == 200, await answer.text()
            token = (await answer.json())["token"]
        cookies = "; ".join(f"{c.key}={c.value}" for c in jar)
        url = f"ws://127.0.0.1:{gateway.port}/{project['stage']}?ws_token={token}"
        headers = {"Origin": django, "Cookie": cookies, "User-Agent": BROWSER}
        replies = []
        async with (
            aiohttp.ClientSession() as raw,
            raw.ws_connect(url, headers=headers, compress=15) as ws,
        ):
            for text in ("hello", "again"):
                await ws.send_str(json.dumps({"action": "echo", "text": text}))
                replies.append(json.loads(await ws.receive_str(timeout=10)))
        return replies


def test_the_reference_provisions_connects_and_exchanges_messages(project):
    assert project["status"].lower().endswith("deployed"), project
    assert run(browser_session(project), timeout=60) == [
        {"echo": "hello", "user": "alice"},
        {"echo": "again", "user": "alice"},
    ]
    # $disconnect reached the reference's view: the session it stored is closed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(project["db"]) as db:
            rows = db.execute(
                "SELECT connected, request_count FROM "
                "django_aws_api_gateway_websockets_websocketsession"
            ).fetchall()
        if rows and not rows[0][0]:
            break
        time.sleep(0.1)
    [(connected, request_count)] = rows
    assert connected == 0 and request_count >= 2  # both messages counted against it


def test_the_reference_refuses_a_connect_without_its_token(project):
    async def connect() -> int:
        url = f"ws://127.0.0.1:{project['gateway'].port}/{project['stage']}"
        headers = {"Origin": project["django"], "User-Agent": BROWSER}
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as error:
            return error.status

    assert run(connect(), timeout=30) == 400
