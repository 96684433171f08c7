"""A local API Gateway WebSocket API: clients connect here, Django gets the events as POSTs.

It behaves toward Django exactly as API Gateway configured by ``syncroutes`` does (same headers,
route selection, route responses, limits) and serves ``@connections`` so ``session.send()`` and
plain boto3 ``apigatewaymanagementapi`` clients work unchanged. Run it with
``manage.py runwsgateway``, or in-process::

    from ws_routes.local_gateway import LocalGateway

    with LocalGateway("http://127.0.0.1:8000/ws/", secret="s3cret", port=0) as gateway:
        print(gateway.url)                  # ws://127.0.0.1:54321 — point the browser here
        print(gateway.management_endpoint)  # WS_ROUTES["MANAGEMENT_ENDPOINT"]
"""

from .config import GatewayConfig
from .ids import new_connection_id
from .server import GatewayServer, LocalGateway

__all__ = ["GatewayConfig", "GatewayServer", "LocalGateway", "new_connection_id"]
