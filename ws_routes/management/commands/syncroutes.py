"""Make API Gateway match the route registry: print the plan, apply it, deploy.

Examples::

    manage.py syncroutes                       # every gateway
    manage.py syncroutes --gateway chat --dry-run
    manage.py syncroutes --gateway 1 --no-prune
    manage.py syncroutes --gateway chat --print-iam-policy
    manage.py syncroutes --gateway chat --emit cloudformation --output chat.template.yaml
    manage.py syncroutes --emit cloudformation --output 'infra/{gateway}.json' --check
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ws_routes import deploy
from ws_routes.deploy import iam
from ws_routes.management.auto_sync import sync_and_record
from ws_routes.management.emit import emit_templates
from ws_routes.models import ApiGateway


class Command(BaseCommand):
    help = (
        "Sync each ApiGateway with the router mounted at its target_base_endpoint (and its "
        "GatewayRoute rows): print the plan, apply it unless --dry-run, then deploy the stage. "
        "A second run plans nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--gateway", metavar="NAME|PK", help="Only this gateway (default: every gateway)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan; change nothing in AWS."
        )
        parser.add_argument(
            "--prune",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Delete routes in AWS that are neither registered nor GatewayRoute rows "
            "($connect, $disconnect and $default are never deleted). Default: --prune.",
        )
        parser.add_argument(
            "--print-iam-policy",
            action="store_true",
            help="Print the least-privilege IAM policy for the gateway's region/account; "
            "sync nothing.",
        )
        parser.add_argument(
            "--account",
            metavar="ID",
            help="AWS account id for --print-iam-policy (default: from sts:GetCallerIdentity).",
        )

        parser.add_argument(
            "--emit",
            choices=["cloudformation"],
            help="Write the CloudFormation template of what a sync would make AWS hold, "
            "instead of syncing (docs/infrastructure-as-code.md).",
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="With --emit: the file to write (default: stdout); {gateway} in it names one "
            "file per gateway.",
        )
        parser.add_argument(
            "--format",
            choices=["json", "yaml"],
            help="With --emit: default yaml for a .yaml/.yml --output, else json.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="With --emit: write nothing; print a diff and exit non-zero when --output "
            "differs from the registry (for CI).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["emit"] and any(options[o] for o in ("output", "format", "check")):
            raise CommandError("--output, --format and --check go with --emit cloudformation.")
        gateways = self._gateways(options["gateway"])
        if options["emit"]:
            emit_templates(
                gateways,
                output=options["output"],
                fmt=options["format"],
                check=options["check"],
                stdout=self.stdout,
                stderr=self.stderr,
            )
            return
        if options["print_iam_policy"]:
            self._print_policies(gateways, options["account"])
            return
        failures = []
        for gateway in gateways:
            self.stdout.write(self.style.MIGRATE_HEADING(f"Gateway {gateway.api_name}:"))
            try:
                result = sync_and_record(
                    gateway, prune=options["prune"], dry_run=options["dry_run"]
                )
            except deploy.DeployError as error:
                self.stderr.write(self.style.ERROR(str(error)))
                failures.append(gateway.api_name)
                continue
            for line in deploy.sync_report(result):
                self.stdout.write(line)
            if not options["dry_run"]:
                self._client_url(gateway)
        if failures:
            raise CommandError(f"Sync failed for: {', '.join(failures)} (see above).")

    def _client_url(self, gateway: ApiGateway) -> None:
        """Where clients connect once deployed: the API's endpoint and the stage, as on AWS."""
        gateway.refresh_from_db(fields=["api_endpoint"])
        if gateway.api_endpoint:
            self.stdout.write(f"Clients connect to {gateway.api_endpoint}/{gateway.stage_name}")

    def _gateways(self, reference: str | None) -> list[ApiGateway]:
        if reference is not None:
            try:
                return [deploy.find_gateway(reference)]
            except deploy.DeployError as error:
                raise CommandError(str(error)) from error
        gateways = list(ApiGateway.objects.order_by("pk"))
        if not gateways:
            raise CommandError("No ApiGateway records: create one in the admin first.")
        return gateways

    def _print_policies(self, gateways: list[ApiGateway], account: str | None) -> None:
        for gateway in gateways:
            try:
                account_id = account or iam.caller_account_id(gateway)
                policy = iam.iam_policy(gateway, account_id=account_id)
            except deploy.DeployError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(json.dumps(policy, indent=2))
