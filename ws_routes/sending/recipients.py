"""Recipients as rows ``(pk, connection_id, api_id, stage)``: streamed from a queryset in
chunks (memory stays flat), or read from instances; then turned into delivery targets.

Works on any queryset or instances with those fields and ``connected``: this package never
imports the models (they import it).

Example: ``for rows in queryset_rows(qs, 500): ...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from django.db.models import QuerySet

from .delivery import Outcome, Target
from .endpoints import Endpoint, EndpointResolver, valid_connection_id

# Fields read per recipient: the primary key (to mark it gone) and what builds its endpoint.
ROW_FIELDS = ("pk", "connection_id", "api_id", "stage")

Row = tuple[Any, ...]


class Recipient(Protocol):
    """What a send reads of a session instance (``WebSocketSession`` has it all)."""

    pk: Any
    connection_id: str
    api_id: str
    stage: str
    connected: bool


def queryset_rows(queryset: QuerySet, chunk_size: int) -> Iterator[list[Row]]:
    """Connected sessions of ``queryset`` as lists of ``ROW_FIELDS`` rows, ``chunk_size`` at a
    time, by keyset pagination on the primary key: each chunk is its own short query, so no
    cursor or transaction stays open while the network works.

    A sliced or combined queryset (``qs[:10]``, ``qs.union(...)``) cannot be filtered further;
    it is read with ``iterator(chunk_size)`` instead, skipping sessions that are not connected.
    """
    query = queryset.query
    if query.is_sliced or query.combinator:
        batch: list[Row] = []
        streamed = queryset.values_list(*ROW_FIELDS, "connected").iterator(chunk_size=chunk_size)
        for *row, connected in streamed:
            if connected:
                batch.append(tuple(row))
                if len(batch) >= chunk_size:
                    yield batch
                    batch = []
        if batch:
            yield batch
        return
    base = queryset.filter(connected=True).order_by("pk").values_list(*ROW_FIELDS)
    last_pk = None
    while True:
        page = base if last_pk is None else base.filter(pk__gt=last_pk)
        rows = list(page[:chunk_size])
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        last_pk = rows[-1][0]


def session_rows(sessions: Sequence[Recipient]) -> list[Row]:
    """Rows of instances already in memory, connected or not (the gateway is the judge)."""
    return [(s.pk, s.connection_id, s.api_id, s.stage) for s in sessions]


def rows_to_targets(
    rows: Iterable[Row], resolve: EndpointResolver, outcome: Outcome
) -> list[Target]:
    """Rows to targets; a row with no usable endpoint or connection id is failed right here."""
    targets: list[Target] = []
    for pk, connection_id, api_id, stage in rows:
        endpoint = resolve(api_id, stage)
        if not isinstance(endpoint, Endpoint):
            outcome.fail(str(connection_id), endpoint)
        elif not valid_connection_id(connection_id):
            outcome.fail(str(connection_id), "invalid connection id")
        else:
            targets.append((pk, connection_id, endpoint))
    return targets
