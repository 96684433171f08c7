"""Write the AsyncAPI 3.0 document of a router (its routes, replies, pushes, channels, security).

Examples::

    manage.py wsschema                                  # the router mounted in the URLconf
    manage.py wsschema --format yaml --output docs/asyncapi.yaml
    manage.py wsschema --gateway chat                   # that gateway's router and wss:// URL
    manage.py wsschema --router example_project.chat.ws.router
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from ws_routes.asyncapi import build_document, gateway_servers, to_yaml
from ws_routes.route_checks import mounted_routers
from ws_routes.routing import Router


class Command(BaseCommand):
    help = "Write the AsyncAPI 3.0 document of a router (JSON or YAML) to stdout or --output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=("json", "yaml"), default="json")
        parser.add_argument(
            "--gateway",
            metavar="NAME|PK",
            help="Document this ApiGateway's router (its target_base_endpoint) with its wss:// "
            "URL as the server.",
        )
        parser.add_argument(
            "--router",
            metavar="DOTTED.PATH",
            help="The Router to document (default: the one mounted in the URLconf).",
        )
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout.")
        parser.add_argument("--title", help="info.title (default: '<app_name> WebSocket API').")
        parser.add_argument("--api-version", default="1.0.0", help="info.version (1.0.0).")

    def handle(self, *args: Any, **options: Any) -> None:
        router, servers = self._router(options["gateway"], options["router"])
        document = build_document(
            router, title=options["title"], version=options["api_version"], servers=servers
        )
        if options["format"] == "yaml":
            text = to_yaml(document)
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if options["output"]:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot write {options['output']}: {error}") from None
            self.stderr.write(
                f"Wrote {options['output']} ({len(document['operations'])} operations)"
            )
        else:
            self.stdout.write(text, ending="")

    def _router(self, gateway_ref: str | None, dotted: str | None) -> tuple[Router, Any]:
        if gateway_ref is not None and dotted is not None:
            raise CommandError("Give --gateway or --router, not both.")
        if gateway_ref is not None:
            from ws_routes import deploy

            try:
                gateway = deploy.find_gateway(gateway_ref)
                return deploy.resolve_router(gateway), gateway_servers(gateway)
            except deploy.DeployError as error:
                raise CommandError(str(error)) from None
        if dotted is not None:
            try:
                router = import_string(dotted)
            except ImportError as error:
                raise CommandError(f"--router {dotted!r}: {error}") from None
            if not isinstance(router, Router):
                raise CommandError(
                    f"--router {dotted!r} is a {type(router).__name__}, not a Router."
                )
            return router, None
        routers = mounted_routers()
        if len(routers) > 1:
            names = ", ".join(repr(r) for r in routers)
            raise CommandError(
                f"The URLconf mounts several routers ({names}): pick one with --router."
            )
        if routers:
            return routers[0], None
        from ws_routes.routing import router

        return router, None
