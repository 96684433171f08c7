"""The reference's command to push the gateway secret to deployed gateways: a route sync here.

``manage.py updateApiGatewayIntegrations [--pk N] [--dry-run] [--prune]`` runs the same plan as
``syncroutes`` for each deployed gateway (one with an ``api_id``), which also writes the secret
header of ``WS_ROUTES["GATEWAY_SECRETS"]`` into every integration and deploys the stage. Unlike
``syncroutes`` it does not delete unknown routes unless ``--prune`` is given, as the reference's
command changed integrations only.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ws_routes import deploy
from ws_routes.models import ApiGateway


class Command(BaseCommand):
    help = (
        "Bring the integrations of deployed API Gateways up to date (secret header, URL, "
        "mappings) through the syncroutes plan, then deploy the stage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, help="Only the ApiGateway with this primary key.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan; change nothing in AWS."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete routes that are neither registered nor GatewayRoute rows.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pk"] is not None:
            try:
                gateways = [deploy.find_gateway(options["pk"])]
            except deploy.DeployError as error:
                raise CommandError(str(error)) from error
        else:
            gateways = list(ApiGateway.objects.exclude(api_id="").order_by("pk"))
            if not gateways:
                self.stdout.write("No deployed ApiGateway (none has an api_id): nothing to do.")
                return
        failures = []
        for gateway in gateways:
            try:
                result = deploy.sync_gateway(
                    gateway, prune=options["prune"], dry_run=options["dry_run"]
                )
            except deploy.DeployError as error:
                self.stderr.write(f"{gateway.api_name}: {error}")
                failures.append(gateway.api_name)
                continue
            for line in deploy.sync_report(result):
                self.stdout.write(line)
        if failures:
            raise CommandError(f"Failed for: {', '.join(failures)}")
