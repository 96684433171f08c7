"""Copy the reference package's connected sessions into ws_routes' (``import_reference_data``).

Only the rows a gateway still holds (``connected`` true) are copied, in batches (keyset
pagination on the reference's ``id``, so a large table is never read at once), each as an
**anonymous** session: the reference's rows carry no login binding ws_routes can verify (its
``session_key_hash``/``auth_hash`` are keyed with the reference's secret), so carrying
``user_id`` over would let a stale row act as that user; the client logs in again on its next
connect. ``api_gateway`` is mapped by api id: the reference session's gateway row -> its
``api_id`` -> our ``ApiGateway`` with that ``api_id``; no such row leaves the key NULL (the api
id itself is kept, so the sender still reaches the connection). A connection id already present
here (an earlier run, a live connect, a duplicate in the reference's table) is left as it is.
See docs/migrating.md ("4. Import the data").
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from django.db import connections

from ..models import ApiGateway, Subscription, WebSocketSession
from ..security import CONNECTION_ID_PATTERN

SESSION_TABLE = "django_aws_api_gateway_websockets_websocketsession"
GATEWAY_TABLE = "django_aws_api_gateway_websockets_apigateway"
SESSION_COLUMNS = ["id", "connection_id", "channel_name", "connected", "api_gateway_id"]
#: The reference's default ``CHANNEL_NAME_PATTERN``, within our column's 128 characters.
CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
BATCH_SIZE = 500
#: At most this many rows are named in the report; the rest are counted.
MAX_NAMED_SKIPS = 20


class Report(Protocol):
    dry_run: bool
    copied: int
    skipped: int
    lines: list[str]


def _gateway_api_ids(using: str, tables: set[str]) -> dict[Any, str]:
    """Reference gateway pk -> its api id (``""`` when it has none)."""
    if GATEWAY_TABLE not in tables:
        return {}
    connection = connections[using]
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT {quote('id')}, {quote('api_id')} FROM {quote(GATEWAY_TABLE)}")
        return {pk: (api_id or "") for pk, api_id in cursor.fetchall()}


def _batches(using: str, batch_size: int) -> Any:
    """The reference's connected session rows, ``batch_size`` at a time, in ``id`` order."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        present = {
            c.name for c in connection.introspection.get_table_description(cursor, SESSION_TABLE)
        }
    columns = [c for c in SESSION_COLUMNS if c in present]
    if not {"id", "connection_id"} <= set(columns):
        return
    select = ", ".join(quote(c) for c in columns)
    connected = f" AND {quote('connected')} = %s" if "connected" in columns else ""
    last: Any = None
    while True:
        where = f"{quote('id')} > %s" if last is not None else "1 = 1"
        params: list[Any] = [last] if last is not None else []
        params += [True] if connected else []
        sql = (
            f"SELECT {select} FROM {quote(SESSION_TABLE)} WHERE {where}{connected} "
            f"ORDER BY {quote('id')} LIMIT {int(batch_size)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def copy_connected_sessions(
    using: str, tables: set[str], report: Report, *, batch_size: int = BATCH_SIZE
) -> None:
    """Copy the connected sessions (see the module docstring) and count them in ``report``."""
    if SESSION_TABLE not in tables:
        report.lines.append(f"# no table {SESSION_TABLE}: no sessions to copy")
        return
    api_ids = _gateway_api_ids(using, tables)
    ours: dict[str, ApiGateway] = {}
    for gateway in ApiGateway.objects.using(using).exclude(api_id="").order_by("pk"):
        ours.setdefault(gateway.api_id, gateway)  # api_id is not unique here: the first row
    copied = without_gateway = skipped = 0
    seen: set[str] = set()

    def skip(text: str) -> None:
        nonlocal skipped
        skipped += 1
        if skipped <= MAX_NAMED_SKIPS:
            report.lines.append("skipped " + text)

    for rows in _batches(using, batch_size):
        candidates: list[tuple[WebSocketSession, str]] = []
        for row in rows:
            cid = row["connection_id"]
            if not isinstance(cid, str) or not CONNECTION_ID_PATTERN.fullmatch(cid):
                skip(f"session {str(cid)[:80]!r}: not a connection id API Gateway issues")
                continue
            channel = row.get("channel_name") or ""
            if not isinstance(channel, str) or (channel and not CHANNEL_PATTERN.fullmatch(channel)):
                skip(f"session {cid!r}: channel {str(channel)[:80]!r} is not a channel name")
                continue
            if cid in seen:
                skip(f"session {cid!r}: the connection id appears twice")
                continue
            seen.add(cid)
            api_id = api_ids.get(row.get("api_gateway_id"), "")
            found: ApiGateway | None = ours.get(api_id) if api_id else None
            session = WebSocketSession(
                connection_id=cid,
                channel_name=channel,
                api_id=api_id[:64],
                stage=(found.stage_name if found else "")[:128],
                api_gateway=found,
                user=None,  # anonymous: see the module docstring
                connected=True,
            )
            candidates.append((session, channel))
        present = set(
            WebSocketSession.objects.using(using)
            .filter(connection_id__in=[s.connection_id for s, _ in candidates])
            .values_list("connection_id", flat=True)
        )
        new = [(s, c) for s, c in candidates if s.connection_id not in present]
        skipped += len(candidates) - len(new)  # already here: left as they are (not named)
        copied += len(new)
        without_gateway += sum(1 for s, _ in new if s.api_gateway is None)
        if report.dry_run or not new:
            continue
        WebSocketSession.objects.using(using).bulk_create(
            [s for s, _ in new], batch_size=batch_size, ignore_conflicts=True
        )
        # ignore_conflicts leaves pk unset (and a concurrent import may have won a row): read back
        by_cid = dict(
            WebSocketSession.objects.using(using)
            .filter(connection_id__in=[s.connection_id for s, c in new if c])
            .values_list("connection_id", "pk")
        )
        Subscription.objects.using(using).bulk_create(
            [
                Subscription(session_id=by_cid[s.connection_id], channel=c, slot=0)
                for s, c in new
                if c and s.connection_id in by_cid
            ],
            batch_size=batch_size,
            ignore_conflicts=True,
        )
    if skipped > MAX_NAMED_SKIPS:
        report.lines.append(f"skipped {skipped - MAX_NAMED_SKIPS} more session(s) (not named)")
    verb = "would copy" if report.dry_run else "copied"
    report.lines.append(
        f"{verb} {copied} connected session(s) as anonymous sessions "
        f"({without_gateway} with no ApiGateway of that api id)"
    )
    report.copied += copied
    report.skipped += skipped
