"""Rows behind channels: a socket's subscriptions and the kept history of channels.

Imported by ``models.py``; the logic that writes them lives in ``ws_routes.channels``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Subscription(models.Model):
    """One socket subscribed to one channel.

    ``slot`` (0 to ``MAX_SUBSCRIPTIONS_PER_SOCKET`` - 1) is unique per socket, so the cap holds
    under concurrent subscribes: two racing for the last slot cannot both insert it.
    """

    session = models.ForeignKey(
        "ws_routes.WebSocketSession", on_delete=models.CASCADE, related_name="subscriptions"
    )
    channel = models.CharField(max_length=128)
    slot = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "channel"], name="ws_routes_subscription_unique"
            ),
            models.UniqueConstraint(fields=["session", "slot"], name="ws_routes_subscription_slot"),
        ]
        indexes = [
            # Broadcast: subscribers of a channel in session order (keyset pagination).
            models.Index(fields=["channel", "session"], name="ws_routes_sub_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} in {self.channel}"


class ChannelMessage(models.Model):
    """A message sent to a history channel: ``seq`` is gap-free per channel, from 1."""

    channel = models.CharField(max_length=128)
    seq = models.BigIntegerField()
    data = models.TextField(help_text="The pushed JSON object, without channel and seq.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="ws_routes_channelmessage_seq")
        ]
        # Expiry (HISTORY_MAX_AGE_SECONDS) finds the oldest rows across channels by this.
        indexes = [models.Index(fields=["created_at"], name="ws_routes_message_age")]

    def __str__(self) -> str:
        return f"{self.channel}#{self.seq}"
