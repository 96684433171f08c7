"""Saving a connect's session: one statement, shared by the gateway's ``$connect`` and a bare
``WebSocketView.connect()`` (``compat.bare_view``), so both write the same row the same way.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Subquery, Value, When
from django.utils import timezone

from .models import ApiGateway, WebSocketSession

#: The columns a retried CONNECT for the same connection id overwrites.
CONNECT_COLUMNS = (
    "user",
    "channel_name",
    "api_id",
    "stage",
    "source_ip",
    "login_binding",
    "connected",
    "connected_at",
    "disconnected_at",
    "api_gateway",
    "updated_on",
)


def gateway_row(api_id: str, stage: str) -> Any:
    """The ``ApiGateway`` row of ``api_id`` (its stage first) as a subquery of the connect's
    INSERT: no query of its own, never stale, and ``NULL`` when no row has that api id."""
    if not api_id:
        return None
    rows = ApiGateway.objects.filter(api_id=api_id).order_by(
        Case(When(stage_name=stage, then=Value(0)), default=Value(1)), "pk"
    )
    return Subquery(rows.values("pk")[:1])


def connected_session(
    ids: tuple[str, str, str],
    user: Any,
    channel: str,
    source_ip: str | None,
    binding: str,
    api_gateway_id: Any = None,
) -> WebSocketSession:
    """The unsaved session of a connect: ``ids`` is (connection id, api id, stage), ``binding``
    the user's ``security.login_binding``; its ``ApiGateway`` row ``api_gateway_id``, else
    looked up by api id and stage inside the INSERT (:func:`gateway_row`)."""
    connection_id, api_id, stage = ids
    return WebSocketSession(
        connection_id=connection_id,
        user=user if user.is_authenticated else None,
        channel_name=channel,
        api_id=api_id,
        stage=stage,
        source_ip=source_ip,
        login_binding=binding,
        connected=True,
        connected_at=timezone.now(),
        api_gateway_id=gateway_row(api_id, stage) if api_gateway_id is None else api_gateway_id,
    )


def save_connected_session(session: WebSocketSession) -> None:
    """Insert ``session``, or overwrite the row of its connection id, in one statement: a
    retried (or concurrent) CONNECT for the same id leaves one row instead of failing."""
    WebSocketSession.objects.bulk_create(
        [session],
        update_conflicts=True,
        unique_fields=["connection_id"],
        update_fields=list(CONNECT_COLUMNS),
    )
    if isinstance(session.__dict__.get("api_gateway_id"), Subquery):
        # The key was a subquery in the INSERT: leave it deferred (read from the row if asked).
        session.__dict__.pop("api_gateway_id", None)
