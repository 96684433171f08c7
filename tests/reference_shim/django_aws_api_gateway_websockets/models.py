from ws_routes.models import ApiGateway, WebSocketSession  # noqa: F401
from ws_routes.models import GatewayRoute as ApiGatewayAdditionalRoute  # noqa: F401

from .shim import missing_names

#: The reference's secret header; views.WebSocketView maps it to ours (X-Ws-Secret).
GATEWAY_SECRET_HEADER = "X-Ws-Gateway-Secret"

__getattr__ = missing_names(__name__)
