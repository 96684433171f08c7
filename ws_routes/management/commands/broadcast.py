"""Send one message to a channel's sessions, in-process or on background workers.

``manage.py broadcast --channel lobby --data '{"text": "maintenance at 6"}'``
``manage.py broadcast --channel lobby --file notice.json --background --wait``
``manage.py broadcast --all --data '{"type": "notice", "text": "deploying"}'`` (every open socket)

Both ways go through a ``Broadcast`` record and print a progress bar (total, delivered, gone,
failed, rate): in-process the shards run here one after another; with ``--background`` they
run on Celery workers and ``--wait`` follows them until the broadcast ends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from ws_routes.broadcasting import runner
from ws_routes.broadcasting.enqueue import enqueue_broadcast
from ws_routes.broadcasting.progress import progress_line
from ws_routes.broadcasting.records import Broadcast
from ws_routes.channels import Channel
from ws_routes.conf import ws_setting
from ws_routes.models import WebSocketSession
from ws_routes.sending import MAX_PAYLOAD_BYTES


class Command(BaseCommand):
    help = (
        "Send a JSON message to every connected session of a channel (or, with --all, every "
        "connected session), with a progress bar."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--channel", help="Channel name.")
        target.add_argument(
            "--all",
            action="store_true",
            help="Every connected socket, whatever its channels (the message is sent as given).",
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", help="The message, as JSON.")
        source.add_argument("--file", help="A file holding the message as JSON.")
        parser.add_argument("--background", action="store_true", help="Deliver on Celery workers.")
        parser.add_argument(
            "--wait", action="store_true", help="With --background: follow it until it ends."
        )
        parser.add_argument("--interval", type=float, default=0.5, help=argparse_hidden())

    def handle(self, *args: Any, **options: Any) -> None:
        channel = options["channel"]
        if not options["all"] and (not channel or len(channel) > 128):
            raise CommandError("--channel must be a channel name of 1 to 128 characters")
        data = self._message(options)
        if not isinstance(data, dict):
            raise CommandError("the message must be a JSON object (channel pushes add fields)")
        started = time.monotonic()
        try:
            if options["all"]:
                queryset, description = WebSocketSession.objects.connected(), "all sockets"
            else:
                target = Channel(channel)
                queryset, description = target.subscribers(), f"channel {channel}"
                data = target.push(data)  # + channel; a history channel numbers and keeps it
            if options["background"]:
                broadcast = enqueue_broadcast(queryset, data, description=description)
            else:
                broadcast = self._in_process(queryset, data, description, started)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        broadcast.refresh_from_db()  # an eager or inline run may have counted them already
        if broadcast.total is None:
            self.stdout.write(f"broadcast {broadcast.pk}: enqueued (a worker counts recipients)")
        else:
            self.stdout.write(f"broadcast {broadcast.pk}: {broadcast.total} recipients")
        if options["background"] and options["wait"]:
            while not broadcast.is_done:
                self._show(broadcast, started)
                time.sleep(max(0.05, options["interval"]))
                broadcast.refresh_from_db()
        broadcast.refresh_from_db()
        self._show(broadcast, started)
        self.stdout.write(f"state: {broadcast.state}")
        if broadcast.state == Broadcast.State.FAILED:
            raise CommandError(f"broadcast {broadcast.pk} failed: {broadcast.error}")

    def _message(self, options: dict[str, Any]) -> Any:
        if options["file"]:
            path = Path(options["file"])
            try:
                if path.stat().st_size > MAX_PAYLOAD_BYTES * 4:
                    raise CommandError(f"{path} is too large for a message (128 KiB at most)")
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {path}: {exc}") from exc
        else:
            raw = options["data"]
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CommandError(f"the message is not valid JSON: {exc}") from exc

    def _in_process(self, queryset: QuerySet, data: Any, description: str, started: float) -> Any:
        """A broadcast record run here, shard by shard, showing progress after each."""
        broadcast = enqueue_broadcast(queryset, data, description=description, publish=False)
        for shard_id in runner.start_broadcast(broadcast.pk) or []:
            for _attempt in range(int(ws_setting("BACKGROUND_SHARD_MAX_ATTEMPTS"))):
                try:
                    runner.run_shard(shard_id)
                    break
                except Exception:  # counted by the shard; the last attempt fails it
                    continue
            broadcast.refresh_from_db()
            self._show(broadcast, started)
        return broadcast

    def _show(self, broadcast: Broadcast, started: float) -> None:
        self.stdout.write(progress_line(broadcast, time.monotonic() - started))


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS
