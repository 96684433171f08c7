"""The public entry points of sending: to sessions, to a queryset, sync or async, and closing
connections; and what every send ends with (gone sessions marked, a :class:`SendResult`).

Recipients are a queryset or instances of the session model: its ``model`` and database come
from them, so this package never imports ``ws_routes.models``.

Example: ``send_to_queryset(WebSocketSession.objects.filter(channel_name="lobby"), data)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .checkpointed import deliver_with_checkpoints
from .delivery import Outcome
from .endpoints import EndpointResolver
from .job import SendJob, adeliver_list, adeliver_stream, deliver_list, deliver_stream
from .ordered import Checkpoint
from .payload import encode_payload
from .recipients import Recipient, queryset_rows, session_rows
from .result import SendResult
from .transports import Transport

logger = logging.getLogger("ws_routes.sending")

#: Rows per UPDATE when marking gone sessions; one statement unless more than this are gone
#: (SQLite refuses more than 32,766 parameters in a statement).
GONE_UPDATE_BATCH = 10_000


#: A session this young may still be inside its ``$connect``: API Gateway opens the socket
#: only once the integration answered (at most 29 s, its integration timeout), and a post
#: before that is answered 410 like one to a closed socket. The soak (bench/soak.py) saw a
#: presence push to a connecting socket mark it disconnected for good. Such a session is
#: counted ``gone`` in the result but not marked; its DISCONNECT, or a 410 once it is older,
#: marks it.
CONNECT_GRACE = timedelta(seconds=30)


def _mark_disconnected(
    model: Any, using: str, pks: list[Any], connected_before: datetime | None = None
) -> int:
    """Set ``connected=False`` on these sessions (those connected before ``connected_before``,
    if given): one UPDATE (one per 10,000 pks)."""
    marked = 0
    now = timezone.now()
    manager = model._base_manager.using(using)
    for start in range(0, len(pks), GONE_UPDATE_BATCH):
        rows = manager.filter(pk__in=pks[start : start + GONE_UPDATE_BATCH], connected=True)
        if connected_before is not None:
            rows = rows.filter(connected_at__lt=connected_before)
        marked += rows.update(connected=False, disconnected_at=now)
    return marked


def _connected_before(session: Any, moment: datetime) -> bool:
    connected_at = getattr(session, "connected_at", None)
    return connected_at is None or connected_at < moment


def _finish(
    outcome: Outcome,
    model: Any,
    using: str,
    sessions: Sequence[Recipient] = (),
) -> SendResult:
    """Mark gone sessions (and DELETEd ones) disconnected, log failures, count everything."""
    deleted = outcome.delivered_targets or []
    grace_ends = timezone.now() - CONNECT_GRACE
    if pks := [pk for pk, _ in outcome.gone if pk is not None]:
        _mark_disconnected(model, using, pks, connected_before=grace_ends)
    if pks := [pk for pk, _ in deleted if pk is not None]:
        _mark_disconnected(model, using, pks)
    if sessions and (outcome.gone or deleted):
        gone = {connection_id for _, connection_id in outcome.gone}
        closed = {connection_id for _, connection_id in deleted}
        for session in sessions:
            if session.connection_id in closed or (
                session.connection_id in gone and _connected_before(session, grace_ends)
            ):
                session.connected = False
    if outcome.failed:
        logger.warning(
            "%d of %d recipients not reached (%s); first: %s",
            len(outcome.failed),
            outcome.total,
            ", ".join(f"{reason} x{n}" for reason, n in outcome.reasons.most_common(5)),
            ", ".join(outcome.failed[:5]),
        )
    return SendResult(
        delivered=outcome.delivered,
        gone=len(outcome.gone),
        failed=len(outcome.failed),
        gone_ids=[connection_id for _, connection_id in outcome.gone],
        failed_ids=outcome.failed,
    )


def _model_and_db(sessions: Sequence[Any]) -> tuple[Any, str]:
    """The model and database of instances (the first one's: a send is to one model)."""
    first = sessions[0]
    model = type(first)
    return model, first._state.db or router.db_for_write(model)


def _deferrable(using: str, on_commit: bool, send_now: Callable[[], SendResult]) -> SendResult:
    """``send_now()`` now, or once the open transaction on ``using`` commits.

    A deferred send returns ``SendResult(deferred=True)``; a failure then is logged by Django
    (``robust=True``) instead of breaking the commit of the caller.
    """
    if on_commit and transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(send_now, using=using, robust=True)
        return SendResult(deferred=True)
    return send_now()


def _send(
    method: str,
    recipients: QuerySet | Iterable[Recipient],
    data: Any,
    *,
    on_commit: bool,
    transport: Transport | str | None,
    endpoints: EndpointResolver | None,
) -> SendResult:
    body = encode_payload(data) if method == "POST" else b""
    keep_delivered = method == "DELETE"
    job = SendJob(method, body, transport, keep_delivered=keep_delivered, endpoints=endpoints)
    if isinstance(recipients, QuerySet):
        queryset = recipients

        def send_streamed() -> SendResult:
            outcome = deliver_stream(job, queryset_rows(queryset, job.chunk_size))
            return _finish(outcome, queryset.model, queryset.db)

        return _deferrable(queryset.db, on_commit, send_streamed)

    sessions = list(recipients)
    if not sessions:
        return SendResult()
    model, using = _model_and_db(sessions)

    def send_now() -> SendResult:
        outcome = deliver_list(job, session_rows(sessions))
        return _finish(outcome, model, using, sessions)

    return _deferrable(using, on_commit, send_now)


async def _asend(
    recipients: QuerySet | Iterable[Recipient],
    data: Any,
    transport: Transport | str | None,
    endpoints: EndpointResolver | None,
) -> SendResult:
    from asgiref.sync import sync_to_async

    body = encode_payload(data)
    job = await sync_to_async(SendJob, thread_sensitive=False)(
        "POST", body, transport, endpoints=endpoints
    )
    if isinstance(recipients, QuerySet):
        model, using, sessions = recipients.model, recipients.db, []
        outcome = await adeliver_stream(job, queryset_rows(recipients, job.chunk_size))
    else:
        sessions = list(recipients)
        if not sessions:
            return SendResult()
        model, using = _model_and_db(sessions)
        outcome = await adeliver_list(job, session_rows(sessions))
    if outcome.gone:  # the UPDATE
        return await sync_to_async(_finish)(outcome, model, using, sessions)
    return _finish(outcome, model, using, sessions)


# --------------------------------------------------------------------------------------------
# Public API


def send_to_sessions(
    sessions: Iterable[Recipient],
    data: Any,
    *,
    on_commit: bool = False,
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> SendResult:
    """Push ``data`` to these sessions, connected or not (the gateway is the judge: 410).

    A queryset is streamed as :func:`send_to_queryset` streams it. With ``on_commit=True``
    inside a transaction, the posts wait for it to commit and ``SendResult(deferred=True)``
    is returned. ``endpoints`` says where each ``(api_id, stage)``'s posts go (an
    :class:`EndpointResolver`; by default the settings do), here and in every send function.

    Example: ``send_to_sessions([alice_session, bob_session], {"text": "hi"})``.
    """
    return _send(
        "POST", sessions, data, on_commit=on_commit, transport=transport, endpoints=endpoints
    )


def send_to_queryset(
    queryset: QuerySet,
    data: Any,
    *,
    on_commit: bool = False,
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> SendResult:
    """Push ``data`` to every connected session of ``queryset``, read from the database in
    chunks of ``SEND_CHUNK_SIZE`` while earlier chunks are being sent.

    Example: ``send_to_queryset(WebSocketSession.objects.filter(channel_name="lobby"), data)``.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"send_to_queryset needs a QuerySet, not {type(queryset).__name__}")
    return _send(
        "POST", queryset, data, on_commit=on_commit, transport=transport, endpoints=endpoints
    )


def send_with_checkpoints(
    queryset: QuerySet,
    data: Any,
    *,
    resend_bound: int,
    record: Callable[[Checkpoint], bool],
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> SendResult | None:
    """:func:`send_to_queryset` in primary key order, reporting progress: as recipients, from
    the first, are all answered, ``record(checkpoint)`` runs in this thread (its last primary
    key and the counts so far) while the posts go on. When it returns False the posts stop and
    None is returned. No post starts more than ``resend_bound`` recipients past the last
    recorded checkpoint, so a sender that dies has sent at most ``resend_bound`` posts the next
    attempt, resuming there, sends again; to keep posting while one is recorded, checkpoints
    come every ``resend_bound - min(SEND_CONCURRENCY, resend_bound // 2)`` recipients
    (``checkpoint_spacing``): up to two per ``resend_bound``. Background shards are sent so
    (``resend_bound`` = ``SHARD_CHECKPOINT``).

    Example: ``send_with_checkpoints(qs.filter(pk__gt=pk), data, resend_bound=100, record=save)``.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"send_with_checkpoints needs a QuerySet, not {type(queryset).__name__}")
    if queryset.query.is_sliced or queryset.query.combinator:
        raise ValueError(
            "send_with_checkpoints needs a queryset it can page by primary key: not sliced, "
            "not a union/intersection/difference (filter it by primary key instead)"
        )
    if isinstance(resend_bound, bool) or not isinstance(resend_bound, int) or resend_bound < 1:
        raise ValueError(
            f"resend_bound must be a whole number of recipients from 1, not {resend_bound!r:.80}"
        )
    job = SendJob("POST", encode_payload(data), transport, endpoints=endpoints)
    chunks = queryset_rows(queryset, job.chunk_size)
    outcome, held = deliver_with_checkpoints(job, chunks, resend_bound, record)
    result = _finish(outcome, queryset.model, queryset.db)  # gone sessions are gone either way
    return result if held else None


async def asend_to_sessions(
    sessions: Iterable[Recipient],
    data: Any,
    *,
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> SendResult:
    """:func:`send_to_sessions` for async code: ``await asend_to_sessions([session], data)``.

    The event loop is never blocked: the posts are awaited, the UPDATE of gone sessions runs
    through ``sync_to_async``. Concurrent ``asend`` calls overlap.
    """
    return await _asend(sessions, data, transport, endpoints)


async def asend_to_queryset(
    queryset: QuerySet,
    data: Any,
    *,
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> SendResult:
    """:func:`send_to_queryset` for async code: ``await qs.asend(data)``.

    Chunks are read through ``sync_to_async`` while earlier ones are being sent.
    """
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"asend_to_queryset needs a QuerySet, not {type(queryset).__name__}")
    return await _asend(queryset, data, transport, endpoints)


def disconnect_sessions(
    queryset_or_sessions: QuerySet | Iterable[Recipient],
    *,
    transport: Transport | str | None = None,
    endpoints: EndpointResolver | None = None,
) -> int:
    """Close these connections (``DELETE @connections/{id}``) and mark them disconnected.

    Returns how many are now closed, counting those the gateway already had as gone (410);
    sessions that could not be reached after retries are left as they were. A queryset's
    connected sessions are read in chunks. Used by the admin's Disconnect action.

    Example: ``disconnect_sessions(WebSocketSession.objects.filter(user=banned_user))``.
    """
    result = _send(
        "DELETE",
        queryset_or_sessions,
        None,
        on_commit=False,
        transport=transport,
        endpoints=endpoints,
    )
    return result.delivered + result.gone
