"""Push messages to WebSocket clients through API Gateway's management API (``@connections``).

Every send, to one session or to a channel of 100,000, goes the same way:

1. ``data`` is encoded to JSON once, and refused (:class:`PayloadTooLarge`, ``TypeError``) before
   anything is sent;
2. recipients are streamed from the database in keyset-paginated chunks (memory stays flat) and
   handed to one long-lived event loop thread shared by the whole process;
3. there, at most ``SEND_CONCURRENCY`` posts are in flight over pooled keep-alive connections,
   each signed with SigV4 (credentials from boto3's chain, refreshed when temporary);
4. 429 and 5xx answers, timeouts and broken connections are retried with exponential backoff and
   full jitter (``SEND_MAX_RETRIES``), then counted as failed; 410 means the client is gone (a
   post that timed out may still have been delivered, so its retry can deliver it twice);
5. gone sessions are marked disconnected in one UPDATE, and a :class:`SendResult` accounts for
   every recipient exactly once.

Example::

    from ws_routes.models import WebSocketSession

    result = WebSocketSession.objects.filter(channel_name="lobby").send({"text": "hi"})
    print(result.delivered, result.gone, result.failed)
    result = await WebSocketSession.objects.filter(channel_name="lobby").asend({"text": "hi"})

The network side is a :class:`Transport`: :class:`HttpTransport` (the default: SigV4 over the
small keep-alive client of :mod:`ws_routes.sending.http1`) or :class:`Boto3Transport`
(botocore clients, e.g. under moto or behind a proxy), chosen by
``WS_ROUTES["SEND_TRANSPORT"]`` (a dotted path or an instance) or passed as ``transport=``.

The package, lowest module first (each imports only those above it): :mod:`.sigv4`,
:mod:`.http1`, :mod:`.result`, :mod:`.payload`, :mod:`.process` (boto3's session, the loop
thread, fork safety), :mod:`.endpoints`, :mod:`.transports`, :mod:`.delivery` (the concurrent
engine), :mod:`.ordered` (the engine reporting progress in primary key order),
:mod:`.recipients`, :mod:`.job` (hand-over between the caller and the loop),
:mod:`.checkpointed` (the same, recording checkpoints), :mod:`.api` (the entry points). It
never imports ``ws_routes.models``: the models import it.
"""

from __future__ import annotations

from .api import (
    GONE_UPDATE_BATCH,
    asend_to_queryset,
    asend_to_sessions,
    disconnect_sessions,
    send_to_queryset,
    send_to_sessions,
    send_with_checkpoints,
)
from .delivery import Target
from .endpoints import Endpoint, EndpointResolver, SettingsEndpoints, management_endpoint
from .ordered import Checkpoint, checkpoint_spacing
from .payload import MAX_PAYLOAD_BYTES, Payload, PayloadTooLarge, encode_payload
from .recipients import Recipient
from .result import SendResult
from .transports import (
    Boto3Transport,
    HttpTransport,
    Transport,
    TransportError,
    get_transport,
    reset_sender,
)

__all__ = [
    "GONE_UPDATE_BATCH",
    "MAX_PAYLOAD_BYTES",
    "Boto3Transport",
    "Checkpoint",
    "Endpoint",
    "EndpointResolver",
    "HttpTransport",
    "Payload",
    "PayloadTooLarge",
    "Recipient",
    "SendResult",
    "SettingsEndpoints",
    "Target",
    "Transport",
    "TransportError",
    "asend_to_queryset",
    "asend_to_sessions",
    "checkpoint_spacing",
    "disconnect_sessions",
    "encode_payload",
    "get_transport",
    "management_endpoint",
    "reset_sender",
    "send_to_queryset",
    "send_to_sessions",
    "send_with_checkpoints",
]
