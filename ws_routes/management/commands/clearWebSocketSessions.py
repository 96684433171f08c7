"""Delete closed sessions, sessions past API Gateway's 2-hour limit, expired tokens, and
channel history older than ``HISTORY_MAX_AGE_SECONDS`` (in batches).

``$disconnect`` is best effort (it may never come), so age is the only sure sign a connection
is gone. Run it from cron: ``manage.py clearWebSocketSessions``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.utils import timezone

from ws_routes.channels.history import expire
from ws_routes.channels.presence import announce_stale_leaves
from ws_routes.conf import ws_setting
from ws_routes.models import ChannelMessage, ConnectToken, WebSocketSession

#: API Gateway closes every connection after 2 hours.
CONNECTION_LIFETIME = timedelta(hours=2)
#: Expired history rows deleted per statement (short transactions on a large table).
HISTORY_BATCH = 5000


class Command(BaseCommand):
    help = (
        "Delete disconnected WebSocket sessions, sessions older than API Gateway's 2-hour "
        "connection limit, and expired connect tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        now = timezone.now()
        stale = WebSocketSession.objects.filter(
            Q(connected=False) | Q(connected_at__lt=now - CONNECTION_LIFETIME)
        )
        expired = ConnectToken.objects.filter(expires_at__lte=now)
        max_age = ws_setting("HISTORY_MAX_AGE_SECONDS")
        if dry_run:
            old = 0
            if max_age is not None:
                cutoff = now - timedelta(seconds=max_age)
                old = ChannelMessage.objects.filter(created_at__lt=cutoff).count()
            self.stdout.write(
                f"Would delete {stale.count()} sessions and {expired.count()} expired tokens."
            )
            self.stdout.write(f"Would delete {old} expired history messages.")
            return
        history = 0
        while deleted := expire(now, "default", HISTORY_BATCH):
            history += deleted
        leaves = announce_stale_leaves(stale)
        sessions, _ = stale.delete()
        tokens, _ = expired.delete()
        self.stdout.write(
            f"Deleted {sessions} sessions and {tokens} expired tokens; announced {leaves} "
            "presence leaves."
        )
        self.stdout.write(f"Deleted {history} expired history messages.")
