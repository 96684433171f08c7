"""Create the custom domain of one gateway and map it to its stage (the seed's command).

``manage.py createCustomDomain --pk 1``: REGIONAL endpoint, TLS 1.2, the record's certificate
ARN; maps the domain to the stage; with a hosted zone id, UPSERTs the Route 53 alias record.
Fills ``api_gateway_domain_name`` (the CNAME target). Safe to run again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ws_routes import deploy
from ws_routes.deploy import custom_domain


class Command(BaseCommand):
    help = "Create the custom domain of one ApiGateway record and map it to its stage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, required=True, help="ApiGateway primary key.")

    def handle(self, *args: Any, pk: int, **options: Any) -> None:
        try:
            gateway = deploy.find_gateway(pk)
            lines = custom_domain.create_custom_domain(gateway)
        except deploy.DeployError as error:
            raise CommandError(str(error)) from error
        for line in lines:
            self.stdout.write(line)
