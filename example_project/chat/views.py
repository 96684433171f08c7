"""The chat's pages: a room list and a room. Messages never touch these views: they go over
the WebSocket (``ws.py``)."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from ws_routes.models import Subscription

#: Room names: a subset of what ws_routes accepts as a channel (``CHANNEL_PATTERN``).
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """Rooms with people in them, and a form to open any room (``?room=name``)."""
    error = ""
    if "room" in request.GET:
        name = request.GET["room"].strip()
        if ROOM_PATTERN.fullmatch(name):
            return redirect("chat:room", room=name)
        error = "Room names are 1-64 letters, digits, '-' or '_'."
    rooms = [
        {"name": row["channel"][len("room:") :], "online": row["online"]}
        for row in Subscription.objects.filter(channel__startswith="room:", session__connected=True)
        .values("channel")
        .annotate(online=Count("session__user", distinct=True))
        .order_by("-online", "channel")[:20]
    ]
    return render(request, "chat/index.html", {"rooms": rooms, "error": error})


@login_required
def room(request: HttpRequest, room: str) -> HttpResponse:
    """The room page; ``room.js`` connects to the gateway with a one-time token."""
    if not ROOM_PATTERN.fullmatch(room):
        raise Http404("No such room")
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "websocket_url": settings.CHAT_WEBSOCKET_URL,
            "token_url": reverse("ws_routes:token"),
        },
    )
