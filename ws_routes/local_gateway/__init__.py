"""A local API Gateway WebSocket API: clients connect here, Django gets the events as POSTs.

It behaves toward Django exactly as API Gateway configured by ``syncroutes`` does and serves
``@connections`` so ``session.send()`` and plain boto3 ``apigatewaymanagementapi`` clients work
unchanged. Run it with ``manage.py runwsgateway``, or in-process::

    from ws_routes.local_gateway import LocalGateway

    with LocalGateway("http://127.0.0.1:8000/ws/", secret="s3cret", port=0) as gateway:
        print(gateway.url)                  # ws://127.0.0.1:54321/local — point the browser here
        print(gateway.management_endpoint)  # WS_ROUTES["MANAGEMENT_ENDPOINT"] (under the stage)
        print(gateway.control_plane_endpoint)  # AWS_ENDPOINT_URL_APIGATEWAYV2 for syncroutes

It also serves the ``apigatewayv2`` control plane (:mod:`.control_plane`); once something is
deployed to a stage, that stage runs the deployment (:mod:`.deployed`: route selection, mapped
parameters, route responses, request models), not the configuration given here, which is the
quick start of stage ``stage`` while nothing is deployed there (docs/local-gateway.md).
With ``lambda_handlers`` (``runwsgateway --lambda``) it invokes Lambda handlers in-process instead
of posting, for ``AWS_PROXY`` integrations and the quick-start stage (:mod:`.lambda_proxy`).

What the quick-start stage emulates, as AWS documents or was observed:

- Every event is ``POST target`` with the DESIGN.md headers (``X-Ws-Secret``, ``-Connection-Id``,
  ``-Event``, ``-Route``, ``-Source-Ip``, ``-Request-Id``, ``-Api-Id``, ``-Stage``). CONNECT also
  carries the handshake's query string, ``Cookie``, ``Origin``, ``User-Agent`` and
  ``Sec-WebSocket-Protocol`` (a protocol Django returns in that header is accepted); its body is
  empty, as is DISCONNECT's. Connection and request ids are 16-character URL-safe base64 ending
  in ``=``, like AWS's.
- ``$connect``: the socket opens only on a 2xx; otherwise the client gets Django's status (never
  its body). Unreachable Django: 500; no answer within 29 s: 504. Redirects are not followed.
- Paths: ``/{stage}`` (WebSocket), ``/{stage}/@connections/{id}``, ``/v2/...`` (control plane);
  anything else 403 ``{"message": "Forbidden"}``. A binary frame closes the socket with 1003.
- Messages: route = ``body[route_selection_key]`` if that is a known route key, else ``$default``
  (non-JSON, non-objects, ``$``-keys included). Each message is its own integration
  call (replies may overtake each other, as on AWS). A non-empty response body — any status — is
  sent back as a text frame (binary if not UTF-8); an empty body sends nothing. Failures send
  ``{"message": "Internal server error" | "Endpoint request timed out", "connectionId",
  "requestId"}``.
- Limits: a frame over 32 KB or a message over 128 KB closes the socket with 1009 (the frame is
  checked on its header, before any byte reaches Django); 10 minutes without a message either way
  (client frames, replies, ``@connections`` posts) or 2 hours in all close it with 1001.
- DISCONNECT follows every close: by the client, by a client that vanished, by ``DELETE
  @connections``, by a limit, or by stopping the gateway.
- ``/{stage}/@connections/{id}``, id percent-encoded: POST delivers
  (text frame if UTF-8, else binary), GET answers ``connectedAt`` / ``identity`` / ``lastActiveAt``,
  DELETE closes (1000). Unknown or not-yet-connected ids: 410 ``GoneException``; over 128 KB: 413
  ``PayloadTooLargeException``; a client not reading: 429 ``LimitExceededException``. SigV4 is
  always verified (403 ``ForbiddenException``): against ``management_credentials``, else the
  environment's ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, else a generated pair
  (loopback only); the body is hashed, ``X-Amz-Date`` must be signed and within 15 minutes.
  Requests with an ``Origin`` header (browsers) are refused.

Not emulated: the 500 new connections/s and 10,000 requests/s account quotas, Lambda authorizers,
API keys, custom domains, TLS (put a TLS proxy in front for ``wss://``). Request models are
checked on deployed stages only.
"""

try:
    import aiohttp  # noqa: F401
except ImportError as error:  # an optional extra: production never runs the emulator
    raise ImportError(
        "The local gateway (runwsgateway, make demo) needs aiohttp: "
        "pip install 'django-ws-routes[local]'"
    ) from error

from .config import GatewayConfig  # noqa: E402
from .ids import new_connection_id  # noqa: E402
from .server import GatewayServer, LocalGateway  # noqa: E402

__all__ = ["GatewayConfig", "GatewayServer", "LocalGateway", "new_connection_id"]
