"""The reference's token clean-up command: delete expired and old connect tokens.

``manage.py cleanupWebSocketTokens [--token-age SECONDS] [--rate-limit-age DAYS] [--dry-run]``.
Connect rate limits live in the Django cache here and expire by themselves, so
``--rate-limit-age`` has nothing to delete (it is accepted so cron lines keep working).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from ws_routes.conf import ws_setting
from ws_routes.models import ConnectToken


class Command(BaseCommand):
    help = "Delete expired connect tokens and tokens older than --token-age seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-age",
            type=int,
            default=None,
            help="Also delete tokens created more than this many seconds ago (default: 300, or "
            "WS_ROUTES['TOKEN_TTL_SECONDS'] if longer, so a valid token is never deleted).",
        )
        parser.add_argument(
            "--rate-limit-age",
            type=int,
            default=7,
            help="Accepted for the reference's cron lines; rate limits here are cache entries "
            "that expire by themselves.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token_age = options["token_age"]
        if token_age is None:
            token_age = max(300, ws_setting("TOKEN_TTL_SECONDS"))
        if token_age < 0 or options["rate_limit_age"] < 0:
            raise CommandError("--token-age and --rate-limit-age must be 0 or more.")
        now = timezone.now()
        old = ConnectToken.objects.filter(
            Q(expires_at__lte=now) | Q(created_at__lt=now - timedelta(seconds=token_age))
        )
        if options["dry_run"]:
            self.stdout.write(f"Would delete {old.count()} WebSocket tokens.")
            return
        deleted, _ = old.delete()
        self.stdout.write(
            self.style.SUCCESS(
                f"Successfully deleted {deleted} expired WebSocket tokens "
                f"(expired, or older than {token_age}s)"
            )
        )
        self.stdout.write(
            "Rate limits are kept in the Django cache (WS_ROUTES['CONNECT_RATE_LIMIT']) and "
            "expire by themselves: nothing to delete."
        )
