"""The reference's hooks called directly, outside a gateway request (as a project's tests do).

Through a gateway request the core has already done the work (``$disconnect`` closes the
session before the hook runs); called on a bare view (``WebSocketView(api_gateway=gw)
.disconnect(request)``) the reference's hook did it itself, and so does this.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from ..channels import connect as channel_connect
from ..contract import CONNECTION_ID_HEADER, meta_key
from ..models import ApiGateway, WebSocketSession
from ..security import CONNECTION_ID_PATTERN


def named_connection_id(request: HttpRequest) -> str:
    """The connection id the request names: ours (``X-Ws-Connection-Id``) or the reference's
    ``Connectionid`` header; ``""`` when neither is a connection id API Gateway issues."""
    meta = request.META
    cid = meta.get(meta_key(CONNECTION_ID_HEADER)) or meta.get("HTTP_CONNECTIONID") or ""
    return cid if isinstance(cid, str) and CONNECTION_ID_PATTERN.fullmatch(cid) else ""


def close_named_connection(request: HttpRequest, api_gateway: ApiGateway | None) -> int:
    """Close the open session the request names (of ``api_gateway`` if given) in one UPDATE,
    then drop its subscriptions; returns how many sessions were closed (0 or 1)."""
    cid = named_connection_id(request)
    if not cid:
        return 0
    sessions = WebSocketSession.objects.filter(connection_id=cid, connected=True)
    if api_gateway is not None:
        sessions = sessions.filter(api_gateway=api_gateway)
    now = timezone.now()
    closed = sessions.update(connected=False, disconnected_at=now, updated_on=now)
    if closed:
        channel_connect.unsubscribe_disconnected(cid)
    return closed
