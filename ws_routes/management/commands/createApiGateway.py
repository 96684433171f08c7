"""Create (or finish creating) one gateway in AWS: the seed's command, now a full sync.

``manage.py createApiGateway --pk 1`` creates the WebSocket API, its integrations, every route
of the registry with its route response, the stage and a deployment -- the same plan as
``syncroutes --gateway 1``, so running it again is harmless and finishes a failed creation.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ws_routes import deploy
from ws_routes.management.auto_sync import sync_and_record


class Command(BaseCommand):
    help = "Create the API Gateway WebSocket API for one ApiGateway record (a full sync)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, required=True, help="ApiGateway primary key.")

    def handle(self, *args: Any, pk: int, **options: Any) -> None:
        try:
            gateway = deploy.find_gateway(pk)
            result = sync_and_record(gateway)
        except deploy.DeployError as error:
            raise CommandError(str(error)) from error
        for line in deploy.sync_report(result):
            self.stdout.write(line)
        self.stdout.write(f"WebSocket URL: {gateway.api_endpoint}/{gateway.stage_name}")
