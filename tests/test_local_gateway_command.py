"""``manage.py runwsgateway``: its options, what it reads from the project, and a real run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import aiohttp
import pytest
from django.core.management import CommandError

from tests.e2e.support import StubBackend, run
from ws_routes.management.commands.runwsgateway import Command, router_at

ROOT = Path(__file__).resolve().parent.parent


def build(*argv: str) -> tuple[object, str]:
    command = Command(stdout=StringIO(), stderr=StringIO())
    parser = command.create_parser("manage.py", "runwsgateway")
    options = vars(parser.parse_args(list(argv)))
    config = command.build_config(options)
    return config, command.stderr._out.getvalue()


def test_defaults_come_from_the_project(settings):
    config, warnings = build()
    assert config.target == "http://127.0.0.1:8000/ws/"
    assert (config.host, config.port) == ("127.0.0.1", 8001)
    assert config.secret == settings.GATEWAY_SECRET
    assert config.route_selection_key == "action"
    assert config.route_keys == frozenset(router_at("/ws/").routes)
    assert {"echo", "chat.send"} <= config.route_keys
    assert (config.idle_timeout, config.max_lifetime, config.integration_timeout) == (
        600.0,
        7200.0,
        29.0,
    )
    assert warnings == ""


def test_options_override(settings):
    config, _ = build(
        "--port=0",
        "--secret=from-the-command-line",
        "--routes=a, b,,c",
        "--route-selection-key=type",
        "--api-id=abc123",
        "--stage=dev",
        "--idle-timeout=5",
        "--max-lifetime=60",
        "--integration-timeout=2",
    )
    assert config.port == 0
    assert config.secret == "from-the-command-line"
    assert config.route_keys == frozenset({"a", "b", "c"})
    assert config.route_selection_key == "type"
    assert (config.api_id, config.stage) == ("abc123", "dev")
    assert (config.idle_timeout, config.max_lifetime, config.integration_timeout) == (5, 60, 2)
    assert build("--routes=*")[0].route_keys is None


def test_target_without_a_router_warns_and_forwards_every_action():
    config, warnings = build("--target=http://127.0.0.1:8000/not-mounted/")
    assert config.route_keys is None
    assert "No router is mounted at '/not-mounted/'" in warnings


def test_missing_secret_is_an_error(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}
    with pytest.raises(CommandError, match="GATEWAY_SECRETS"):
        build()


@pytest.mark.parametrize(
    "argv", [["--target=ftp://x/"], ["--idle-timeout=0"], ["--port=99999"], ["--stage=a\nb"]]
)
def test_bad_options_are_command_errors(argv):
    with pytest.raises(CommandError):
        build(*argv)


def test_the_command_serves_until_interrupted():
    backend = StubBackend().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "runwsgateway",
            "--port=0",
            f"--target={backend.url}",
            "--routes=*",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Quit with"):
                break
        text = "".join(banner)
        url = re.search(r"listening on (ws://127\.0\.0\.1:\d+/local)", text).group(1)
        assert 'WS_ROUTES["LOCAL_GATEWAY"] = "http://127.0.0.1:' in text

        async def scenario():
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(url + "/?channel=x") as ws,
            ):
                await ws.send_str(json.dumps({"action": "ping"}))
                reply = json.loads(await ws.receive_str(timeout=5))
                process.send_signal(signal.SIGINT)
                closing = await ws.receive(timeout=5)
                return reply, closing.data

        reply, close_code = run(scenario())
        assert reply["route"] == "ping"
        assert close_code == 1001
        assert process.wait(timeout=10) == 0
        output = process.stdout.read()
        connection_id = backend.wait_for("CONNECT").connection_id
        backend.wait_for("DISCONNECT", connection_id)
        assert f"MESSAGE    ping         {connection_id} -> 200" in text + output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        backend.stop()


def test_missing_aiohttp_names_the_extra_to_install():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "try:\n"
        "    import ws_routes.local_gateway\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'django-ws-routes[local]'" in done.stdout


def test_state_without_target_serves_only_what_is_deployed(tmp_path):
    config, warnings = build(f"--state={tmp_path / 'gateway.json'}")
    assert config.target is None and config.secret is None
    assert config.state_file == str(tmp_path / "gateway.json")
    assert warnings == ""


@pytest.mark.parametrize("content", ["{", '{"format": "something else"}', "[]"])
def test_a_corrupt_state_file_is_refused_at_start(tmp_path, content):
    import asyncio

    path = tmp_path / "gateway.json"
    path.write_text(content)
    command = Command(stdout=StringIO(), stderr=StringIO())
    config, _ = build(f"--state={path}", "--port=0")
    with pytest.raises(CommandError, match="refusing to start"):
        asyncio.run(command.serve(config))
    assert path.read_text() == content


@pytest.mark.django_db
def test_the_quick_start_provisions_itself_through_the_deploy_code(settings):
    from ws_routes.local_gateway import LocalGateway
    from ws_routes.local_gateway.provision import provision_from_router
    from ws_routes.models import ApiGateway

    target = "http://127.0.0.1:8000/ws/"
    with LocalGateway(target, secret=settings.GATEWAY_SECRET) as gateway:
        lines = provision_from_router(
            gateway.control_plane_endpoint, target, "local", gateway.management_credentials.first()
        )
        deployed = gateway.server.control_plane.deployment("local")
    assert "+ route echo" in lines and "+ route response echo $default" in lines
    assert deployed is not None
    api_id, snapshot = deployed
    keys = {route["routeKey"] for route in snapshot["routes"].values()}
    assert {"$connect", "$disconnect", "$default", "echo", "chat.send"} <= keys
    assert snapshot["api"]["name"] == "runwsgateway-quick-start"
    assert ApiGateway.objects.count() == 0  # the provisioning row was rolled back
