"""``manage.py runwsgateway``: a local API Gateway WebSocket API in front of ``runserver``.

Three ways to start (docs/local-gateway.md):

- ``--state FILE`` (no ``--target``): the gateway serves only what is deployed to it, through
  its control plane (``AWS_ENDPOINT_URL_APIGATEWAYV2=http://127.0.0.1:8001 manage.py
  syncroutes``), and keeps it in FILE across restarts.
- ``--target URL`` (the quick start) with nothing deployed: it provisions itself from the
  router at start-up with the same deploy code (``--routes`` instead: a fixed route list).
- ``--template FILE`` (``--parameter GatewaySecret=...``): it serves the API of a template
  ``syncroutes --emit cloudformation`` wrote, as CloudFormation would have created it.
- ``--lambda module:handler`` (no ``--target``): the quick-start stage invokes that Lambda
  handler in-process instead (``ws_routes.aws_lambda:handler``); ``--lambda ARN=module:handler``
  names the function that ``AWS_PROXY`` integrations deployed here invoke (docs/lambda.md).

Example::

    python manage.py runserver 8000 &
    python manage.py runwsgateway --port 8001 --target http://127.0.0.1:8000/ws/
    # browser: new WebSocket("ws://127.0.0.1:8001/local")
    # settings: WS_ROUTES["MANAGEMENT_ENDPOINT"] = "http://127.0.0.1:8001/{stage}"
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import Resolver404, resolve

from ws_routes.conf import ws_setting
from ws_routes.local_gateway import GatewayConfig, GatewayServer
from ws_routes.local_gateway.config import (
    AWS_IDLE_TIMEOUT_SECONDS,
    AWS_INTEGRATION_TIMEOUT_SECONDS,
    AWS_MAX_LIFETIME_SECONDS,
)
from ws_routes.local_gateway.control_plane import ControlPlaneState, StateFileError
from ws_routes.local_gateway.control_plane.operations import Operations
from ws_routes.local_gateway.faults import ManagementFaults
from ws_routes.local_gateway.lambda_options import LambdaOptionError, parse_lambda_options
from ws_routes.local_gateway.provision import provision_from_router
from ws_routes.local_gateway.template import LoadedTemplate, load_template
from ws_routes.local_gateway.template_input import TemplateError, read_template
from ws_routes.security import configured_gateway_secrets


def router_at(target: str) -> Any:
    """The ``Router`` mounted at ``target``'s path in this project's URLconf, or ``None``."""
    try:
        match = resolve(urlsplit(target).path or "/")
    except Resolver404:
        return None
    return getattr(match.func, "ws_router", None)


DEFAULT_TARGET = "http://127.0.0.1:8000/ws/"


def _route_keys(routes: str | None, router: Any) -> frozenset[str] | None:
    """``--routes`` (``*``: any action), else the router's keys, else any action."""
    if routes == "*":
        return None
    if routes:
        return frozenset(key.strip() for key in routes.split(",") if key.strip())
    return frozenset(router.routes) if router is not None else None


class Command(BaseCommand):
    help = (
        "Run a local API Gateway WebSocket API that posts every $connect, message and "
        "$disconnect to this project's router, and serves @connections for session.send()."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (127.0.0.1).")
        parser.add_argument("--port", type=int, default=8001, help="Port (8001; 0: any free).")
        parser.add_argument(
            "--target",
            help="URL where router.urls is mounted on the running Django server "
            f"(default {DEFAULT_TARGET} unless --state is given).",
        )
        parser.add_argument(
            "--lambda",
            dest="lambdas",
            action="append",
            metavar="[FUNCTION=]MODULE:HANDLER",
            help="Invoke this Lambda handler in-process (e.g. ws_routes.aws_lambda:handler): "
            "for the quick-start stage when no --target is given, and for AWS_PROXY routes "
            "deployed here; FUNCTION= (an ARN or a name) limits it to that function. Repeatable.",
        )
        parser.add_argument(
            "--state",
            help="JSON file keeping what is deployed to this gateway across restarts.",
        )
        parser.add_argument(
            "--template",
            help="Serve the API of this template (syncroutes --emit cloudformation; JSON or YAML).",
        )
        parser.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A value of a template parameter (GatewaySecret: the first of "
            "WS_ROUTES['GATEWAY_SECRETS']); repeat for each.",
        )
        parser.add_argument(
            "--integration-origin",
            help="With --template: call the integrations at this http(s)://host:port instead of "
            "the template's (the path stays the template's).",
        )
        parser.add_argument(
            "--secret", help="X-Ws-Secret to send (default: first of WS_ROUTES['GATEWAY_SECRETS'])."
        )
        parser.add_argument(
            "--route-selection-key",
            help="Body key naming the route (default: the router's, WS_ROUTES setting).",
        )
        parser.add_argument(
            "--routes",
            help="Comma-separated route keys of the emulated API (default: the router's keys; "
            "'*': every action is a route). Other actions go to $default.",
        )
        parser.add_argument("--api-id", default="localws001", help="X-Ws-Api-Id to send.")
        parser.add_argument("--stage", default="local", help="X-Ws-Stage to send.")
        parser.add_argument(
            "--idle-timeout", type=float, default=AWS_IDLE_TIMEOUT_SECONDS, help="Seconds (600)."
        )
        parser.add_argument(
            "--max-lifetime", type=float, default=AWS_MAX_LIFETIME_SECONDS, help="Seconds (7200)."
        )
        parser.add_argument(
            "--access-key-id",
            help="SigV4 access key id @connections requests must be signed with (default: "
            "AWS_ACCESS_KEY_ID from the environment, else a generated pair, printed).",
        )
        parser.add_argument(
            "--secret-access-key",
            help="Its secret key (default: AWS_SECRET_ACCESS_KEY). Prefer the environment: "
            "a command line is visible to other users of the machine.",
        )
        parser.add_argument(
            "--integration-timeout",
            type=float,
            default=AWS_INTEGRATION_TIMEOUT_SECONDS,
            help="Seconds Django may take per event (29).",
        )
        parser.add_argument(
            "--management-faults",
            help="JSON object: shares of @connections posts answered 500, 429 or hung, e.g. "
            '\'{"500": 0.02, "429": 0.02, "hang": 0.005, "hang_seconds": 5}\' '
            "(for tests of senders; ws_routes/local_gateway/faults.py).",
        )

    def build_config(self, options: dict[str, Any]) -> GatewayConfig:
        """The gateway's settings from the command line and the project's settings."""
        try:
            handlers = parse_lambda_options(options.get("lambdas") or [])
        except LambdaOptionError as error:
            raise CommandError(str(error)) from None
        options = {**options, "lambda_handlers": handlers or None}
        if options.get("template"):
            return self._template_config(options)
        if options.get("parameter") or options.get("integration_origin"):
            raise CommandError("--parameter and --integration-origin go with --template.")
        lambda_quick_start = "*" in handlers and not options.get("target")
        if lambda_quick_start:
            return self._lambda_config(options)
        target = options.get("target") or (None if options.get("state") else DEFAULT_TARGET)
        if target is None:
            return self._config(options, target=None, secret=None)
        return self._quick_start_config(options, target)

    def _lambda_config(self, options: dict[str, Any]) -> GatewayConfig:
        """The quick-start stage invoking the ``--lambda`` handler (no secret: no HTTP)."""
        from django.core.exceptions import ImproperlyConfigured

        from ws_routes.lambda_handler import mounted_router

        routes = options.get("routes")
        router = None
        if not routes:
            try:
                router = mounted_router()[1]
            except ImproperlyConfigured:
                self.stderr.write("No router is mounted in the URLconf: every action is a route.")
        route_keys = _route_keys(routes, router)
        selection_key = options.get("route_selection_key") or (
            router.route_selection_key if router is not None else ws_setting("ROUTE_SELECTION_KEY")
        )
        return self._config(
            options,
            target=None,
            secret=None,
            route_selection_key=selection_key,
            route_keys=route_keys,
        )

    def _config(self, options: dict[str, Any], **fields: Any) -> GatewayConfig:
        key_id, secret_key = options.get("access_key_id"), options.get("secret_access_key")
        if bool(key_id) != bool(secret_key):
            raise CommandError("Pass both --access-key-id and --secret-access-key, or neither.")
        try:
            return GatewayConfig(
                management_credentials={key_id: secret_key} if key_id and secret_key else None,
                host=options["host"],
                port=options["port"],
                api_id=options["api_id"],
                stage=options["stage"],
                idle_timeout=options["idle_timeout"],
                max_lifetime=options["max_lifetime"],
                integration_timeout=options["integration_timeout"],
                state_file=options.get("state"),
                management_faults=(
                    ManagementFaults.parse(options["management_faults"])
                    if options.get("management_faults")
                    else None
                ),
                lambda_handlers=options.get("lambda_handlers"),
                **fields,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None

    def _template_config(self, options: dict[str, Any]) -> GatewayConfig:
        """Read and check the template (a trial load); its first stage is the one printed."""
        for name in ("state", "target", "routes", "secret", "route_selection_key"):
            if options.get(name):
                raise CommandError(f"--template serves the template's API only: drop --{name}.")
        parameters: dict[str, str] = {}
        for item in options.get("parameter") or []:
            name, equals, value = item.partition("=")
            if not equals or not name:
                raise CommandError(f"--parameter {name or item!r}: expected NAME=VALUE.")
            if name in parameters:
                raise CommandError(f"--parameter {name}: given twice.")
            parameters[name] = value
        try:
            body = read_template(options["template"])
            self._template = (body, parameters, options.get("integration_origin"))
            trial = self._load(Operations(ControlPlaneState(), lambda: "ws://127.0.0.1"))
        except TemplateError as error:
            raise CommandError(str(error)) from None
        return self._config({**options, "stage": trial.stages[0]}, target=None, secret=None)

    def _load(self, operations: Operations) -> LoadedTemplate:
        body, parameters, origin = self._template
        return load_template(operations, body, parameters, integration_origin=origin)

    def _quick_start_config(self, options: dict[str, Any], target: str) -> GatewayConfig:
        secret = options.get("secret")
        if not secret:
            secrets = configured_gateway_secrets()  # validated: never str() of a bad entry
            if not secrets:
                raise CommandError(
                    "No valid gateway secret: set WS_ROUTES['GATEWAY_SECRETS'] to a list of "
                    "secrets (see the README) or pass --secret."
                )
            secret = secrets[0].decode()
        router = router_at(target)
        routes = options.get("routes")
        route_keys = _route_keys(routes, router)
        if not routes and router is None:
            self.stderr.write(
                f"No router is mounted at {urlsplit(target).path!r} in this project's URLconf: "
                "every action is forwarded as its own route. Check --target."
            )
        selection_key = options.get("route_selection_key") or (
            router.route_selection_key if router is not None else ws_setting("ROUTE_SELECTION_KEY")
        )
        self._provision = bool(router is not None and not routes and not options.get("secret"))
        return self._config(
            options,
            target=target,
            secret=secret,
            route_selection_key=selection_key,
            route_keys=route_keys,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = self.build_config(options)
        self._configure_logging(options["verbosity"])
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while stopping
            asyncio.run(self.serve(config))

    def _configure_logging(self, verbosity: int) -> None:
        logger = logging.getLogger("ws_routes.local_gateway")
        if verbosity == 0 or logger.handlers:
            return
        handler = logging.StreamHandler(self.stdout)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        logger.propagate = False

    async def serve(self, config: GatewayConfig) -> None:
        """Serve until SIGINT/SIGTERM, then close every socket (Django gets DISCONNECT)."""
        try:
            server = GatewayServer(config)
        except (StateFileError, ValueError) as error:  # corrupt state; exposed host
            raise CommandError(str(error)) from None
        if getattr(self, "_template", None) is not None:
            try:
                loaded = self._load(server.control_plane.operations)
            except TemplateError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(
                f"Loaded {self._template_name()}: API {loaded.api_id}, stages "
                + ", ".join(loaded.stages)
                + "".join(f"\n  note: {note}" for note in loaded.notes)
            )
        try:
            await server.start()
        except OSError as error:
            raise CommandError(f"Cannot listen on {config.host}:{config.port}: {error}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Windows, or not the main thread: Ctrl-C then raises KeyboardInterrupt instead.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        if getattr(self, "_provision", False) and not server.control_plane.has_deployments():
            await self._provision_self(server, config)
        self._banner(server, config)
        try:
            await stop.wait()
        finally:
            self.stdout.write("Stopping: closing sockets (Django gets DISCONNECT)...")
            await server.stop()

    async def _provision_self(self, server: GatewayServer, config: GatewayConfig) -> None:
        """Deploy the router to our own control plane (boto3 calls: off the event loop)."""
        assert config.target is not None
        try:
            lines = await asyncio.to_thread(
                provision_from_router,
                server.control_plane_endpoint,
                config.target,
                config.stage,
                server.management_credentials.first(),
            )
        except Exception as error:  # configuration or database: the static stage still answers
            self.stderr.write(
                f"Could not provision the gateway from the router ({error}); serving the "
                "quick-start configuration instead (every route replies, no models)."
            )
            return
        self.stdout.write("Provisioned from the router (as syncroutes would):")
        self.stdout.write("\n".join(f"  {line}" for line in lines))

    def _template_name(self) -> str:
        metadata = self._template[0].get("Metadata")
        marker = metadata.get("ws_routes") if isinstance(metadata, dict) else None
        name = marker.get("Gateway") if isinstance(marker, dict) else None
        return f"the template of gateway {name!r}" if isinstance(name, str) else "the template"

    @staticmethod
    def _credential_lines(server: GatewayServer) -> list[str]:
        credentials = server.management_credentials
        key_id, secret_key = credentials.first()
        if credentials.generated:
            return [
                "  SigV4 required on @connections; generated for this run (Django's sender "
                "signs with these once exported where runserver runs):",
                f"    export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret_key}",
            ]
        # Never print a secret we were given: it may be a real AWS key.
        return [f"  SigV4 required on @connections: key {key_id} (from the {credentials.source})"]

    def _banner(self, server: GatewayServer, config: GatewayConfig) -> None:
        routes = "any action" if config.route_keys is None else ", ".join(sorted(config.route_keys))
        lines = [f"Local API Gateway (WebSocket API) listening on {server.url}"]
        deployed = server.control_plane.deployment(config.stage)
        if deployed is not None:
            lines.append(f"  stage {config.stage}: API {deployed[0]} as deployed")
        elif config.quick_start_lambda is not None:
            lines += [
                f"  integration: AWS_PROXY, in-process Lambda handler "
                f"{getattr(config.quick_start_lambda, '__qualname__', 'handler')}  "
                f"(apiId {config.api_id}, stage {config.stage}: allow them in "
                "WS_ROUTES['LAMBDA_GATEWAYS'])",
                f"  routes: $connect, $disconnect, $default, {routes or '(none)'} "
                f"(selected by body[{config.route_selection_key!r}])",
            ]
        elif config.target is not None:
            lines += [
                f"  integration: POST {config.target}  (X-Ws-Api-Id {config.api_id}, "
                f"stage {config.stage})",
                f"  routes: $connect, $disconnect, $default, {routes or '(none)'} "
                f"(selected by body[{config.route_selection_key!r}])",
            ]
        lines += [
            f"  clients: <ApiEndpoint>/<stage>, e.g. {server.url}",
            f"  management API: {server.api_endpoint.replace('ws://', 'http://')}/<stage>"
            "/@connections/{id}",
            f"  control plane: AWS_ENDPOINT_URL_APIGATEWAYV2={server.control_plane_endpoint}",
            *self._credential_lines(server),
        ]
        lines += paste_lines(server.control_plane_endpoint)
        lines.append("Quit with CONTROL-C.")
        self.stdout.write("\n".join(lines))
        sys.stdout.flush()


def paste_lines(endpoint: str) -> list[str]:
    """What to paste into settings so sends, syncroutes and the admin reach this gateway; [] when
    the settings already point there."""
    wanted = f"{endpoint}/{{stage}}"
    local = ws_setting("LOCAL_GATEWAY")
    management = ws_setting("MANAGEMENT_ENDPOINT")
    sends_here = str(management).startswith(endpoint) if management else local == endpoint
    control = ws_setting("AWS_ENDPOINT_URL_APIGATEWAYV2")
    control_here = str(control).rstrip("/") == endpoint if control else local == endpoint
    if sends_here and control_here:
        return []
    lines = [
        "  paste into settings.py (sends, syncroutes and the admin's Sync routes then reach it):",
        f'    WS_ROUTES["LOCAL_GATEWAY"] = "{endpoint}"',
    ]
    if management and not sends_here:
        lines.append(f'    and drop WS_ROUTES["MANAGEMENT_ENDPOINT"] (or set it to "{wanted}")')
    if control and not control_here:
        lines.append('    and drop WS_ROUTES["AWS_ENDPOINT_URL_APIGATEWAYV2"]')
    return lines
