"""Copy gateways, routes, admin permission grants and connected sessions from the reference.

Examples::

    manage.py import_reference_data --dry-run   # print what would be copied
    manage.py import_reference_data             # copy it (running it again copies nothing new)

See ``ws_routes.compat.reference_data`` and docs/migrating.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS

from ws_routes.compat.reference_data import import_reference_data


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 100_000:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 100000, not {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Copy ApiGateway rows, additional routes, the admin permission grants and the connected "
        "sessions (as anonymous sessions) from django-aws-api-gateway-websockets' tables into "
        "ws_routes' (idempotent). Tokens are left: they expire."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be copied; copy nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=500,
            help="Sessions read and written per batch (default: 500).",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default)."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        report = import_reference_data(
            using=options["database"], dry_run=dry_run, batch_size=options["batch_size"]
        )
        for line in report.lines:
            self.stdout.write(line)
        verb = "Would copy" if dry_run else "Copied"
        self.stdout.write(f"{verb} {report.copied} item(s); skipped {report.skipped}.")
