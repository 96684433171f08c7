"""Admin of background broadcasts: progress at a glance, and Cancel for staff with the
``ws_routes.cancel_broadcast`` permission (pending shards are dropped and counted cancelled).

Registered by ``contrib_admin.admin`` (one import line).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ws_routes.broadcasting.progress import progress_line
from ws_routes.models import Broadcast


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Read-only records; the only change a user makes is cancelling."""

    list_display = (
        "id",
        "created_at",
        "description",
        "state",
        "progress",
        "total",
        "delivered",
        "gone",
        "failed",
        "cancelled",
        "pending_shards",
    )
    list_filter = ("state",)
    search_fields = ("description", "payload_digest")
    exclude = ("payload",)
    actions = ("cancel_broadcasts",)

    @admin.display(description="progress")
    def progress(self, obj: Broadcast) -> str:
        if obj.total is None:
            return "counting"
        return f"{obj.accounted / obj.total:.0%}" if obj.total else "100%"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [f.name for f in self.model._meta.fields if f.name not in self.exclude]
        return [*fields, "progress"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # records are written by the workers only

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ws_routes.cancel_broadcast")

    @admin.action(description="Cancel the selected broadcasts", permissions=["cancel"])
    def cancel_broadcasts(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled = 0
        for broadcast in queryset:
            if broadcast.is_done:
                continue
            cancelled += broadcast.cancel()
            self.message_user(request, progress_line(broadcast, 0).rsplit(" ", 1)[0])
        self.message_user(request, f"{cancelled} pending recipients cancelled", messages.SUCCESS)
