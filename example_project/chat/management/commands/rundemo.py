"""``manage.py rundemo``: the whole chat demo in one command (``make demo`` runs it).

Migrates the SQLite database, creates the demo users and a staff user, starts ``runserver`` and
the local API Gateway (``runwsgateway``, empty: it serves only what is deployed to it) on
127.0.0.1, creates the chat's ``ApiGateway`` row and deploys it to the gateway with
``syncroutes`` (as on AWS), prints where to go, and stops both on Ctrl-C: the gateway first, so
that Django still receives its DISCONNECTs.

``rundemo --lambda`` (``make demo-lambda``): the gateway invokes ``ws_routes.aws_lambda.handler``
in its own process for every WebSocket event, as API Gateway invokes a Lambda function through
an ``AWS_PROXY`` integration (its quick-start stage; nothing is synced). ``runserver`` still
serves the pages, the login and the connect tokens.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ws_routes.local_gateway.management_auth import generate_credentials
from ws_routes.models import ApiGateway

from .demousers import DEMO_ADMIN, DEMO_USERS

MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
#: The chat's gateway row; the admin shows it, its routes and the live sessions.
DEMO_GATEWAY_NAME = "chat demo"
#: What ``--lambda`` runs the chat's WebSocket events through: the real Lambda entry point.
LAMBDA_HANDLER = "ws_routes.aws_lambda:handler"
#: What provisioning fills in: reset at start, since the gateway starts empty every run.
RESET_FIELDS = {
    "api_id": "",
    "api_endpoint": "",
    "integration_id": "",
    "deployment_id": "",
    "api_created": False,
    "provisioning_status": ApiGateway.ProvisioningStatus.PENDING,
    "last_error": "",
}


def port_is_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM to one server's process group (runserver's reloader child too), then wait.

    SIGTERM rather than SIGINT: a process started in the background may have SIGINT ignored.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class Command(BaseCommand):
    help = "Run the chat demo: migrate, demo users, runserver + local gateway on 127.0.0.1."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--noreload", action="store_true", help="Run runserver without its autoreloader."
        )
        parser.add_argument(
            "--lambda",
            dest="lambda_mode",
            action="store_true",
            help=f"Serve the WebSocket events with the Lambda handler ({LAMBDA_HANDLER}) "
            "in the gateway's process instead of posting them to runserver.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Ctrl-C and SIGTERM both stop the demo cleanly, even where SIGINT came in ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        http_port, gateway_port = settings.HTTP_PORT, settings.GATEWAY_PORT
        for port in (http_port, gateway_port):
            if port_is_open(port):
                raise CommandError(
                    f"Port {port} on {HOST} is in use (another demo?). Stop it, or choose other "
                    "ports: make demo DEMO_PORT=9000 DEMO_GATEWAY_PORT=9001"
                )
        call_command("migrate", interactive=False, verbosity=0)
        call_command("demousers", stdout=io.StringIO())

        state_file = Path(settings.DATABASES["default"]["NAME"]).with_name("gateway-state.json")
        state_file.unlink(missing_ok=True)  # a fresh gateway each run; the row is reset to match
        manage = [sys.executable, str(MANAGE_PY)]
        django_args = ["runserver", f"{HOST}:{http_port}"]
        if options["noreload"]:
            django_args.append("--noreload")
        gateway_args = ["runwsgateway", "--host", HOST, "--port", str(gateway_port)]
        gateway_args += ["--stage", settings.DEMO_STAGE]
        lambda_mode = options["lambda_mode"]
        if lambda_mode:  # the quick-start stage, invoking the handler (WS_ROUTES' LAMBDA_GATEWAYS)
            gateway_args += ["--lambda", LAMBDA_HANDLER]
        else:
            gateway_args += ["--state", str(state_file)]
        servers = [
            # The gateway first in the list: it is stopped first (see stop_all).
            self.start(manage + gateway_args),
            self.start(manage + django_args),
        ]
        try:
            self.wait_until_ready(servers, (gateway_port, http_port))
            if not lambda_mode:
                self.sync_gateway(http_port)
            self.banner(http_port, gateway_port, lambda_mode)
            while all(server.poll() is None for server in servers):
                time.sleep(0.5)
            raise CommandError("A server stopped: see its output above.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the gateway, then Django...")
        finally:
            for server in servers:
                stop(server)

    def sync_gateway(self, http_port: int) -> None:
        """The chat's ApiGateway row, deployed to the local gateway by syncroutes' own code."""
        ApiGateway.objects.update_or_create(
            api_name=DEMO_GATEWAY_NAME,
            defaults={
                "api_description": "The example chat (make demo)",
                "target_base_endpoint": f"http://{HOST}:{http_port}/ws/",
                "stage_name": settings.DEMO_STAGE,
                "region": "us-east-1",
                "sync_on_migrate": True,
                **RESET_FIELDS,
            },
        )
        # syncroutes runs here: it signs with this run's pair too (no well-known credentials).
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            os.environ.pop(name, None)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ[name] = self.environment[name]
        out = io.StringIO()
        call_command("syncroutes", "--gateway", DEMO_GATEWAY_NAME, stdout=out)
        self.stdout.write(out.getvalue())

    def start(self, command: list[str]) -> subprocess.Popen[Any]:
        # Its own process group: Ctrl-C reaches only this command, which stops them in order.
        # Both servers get this run's @connections key pair: the gateway verifies SigV4 with
        # it, Django's sender signs with it (boto3's environment credentials).
        return subprocess.Popen(command, start_new_session=True, env=self.environment)

    @cached_property
    def environment(self) -> dict[str, str]:
        ((key_id, secret_key),) = generate_credentials().items()
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")
        }
        return {**inherited, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret_key}

    def wait_until_ready(
        self, servers: list[subprocess.Popen[Any]], ports: tuple[int, ...]
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not all(port_is_open(port) for port in ports):
            if any(server.poll() is not None for server in servers):
                raise CommandError("A server failed to start: see its output above.")
            if time.monotonic() > deadline:
                raise CommandError(f"The servers did not listen within {READY_TIMEOUT_SECONDS} s.")
            time.sleep(0.1)

    def banner(self, http_port: int, gateway_port: int, lambda_mode: bool = False) -> None:
        logins = "  and  ".join(f"{user} / {password}" for user, password in DEMO_USERS)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 72,
                    f"  Chat demo: http://{HOST}:{http_port}/",
                    f"  Log in as  {logins}",
                    "  (the second one in a private window or another browser, then open",
                    "   the same room in both and chat)",
                    f"  Admin (gateway, routes, live sessions): http://{HOST}:{http_port}/admin/"
                    f"  as  {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}",
                    f"  Local API Gateway: ws://{HOST}:{gateway_port}/{settings.DEMO_STAGE}  "
                    f"(@connections on http://{HOST}:{gateway_port}/{settings.DEMO_STAGE}, "
                    f"control plane http://{HOST}:{gateway_port})",
                    *(
                        [f"  WebSocket events: in-process Lambda handler {LAMBDA_HANDLER}"]
                        if lambda_mode
                        else []
                    ),
                    "  Ctrl-C stops both.",
                    "=" * 72,
                    "",
                ]
            )
        )
        self.stdout.flush()
