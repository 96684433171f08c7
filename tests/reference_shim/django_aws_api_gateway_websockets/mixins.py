from ws_routes.compat.mixins import (  # noqa: F401
    AddWebSocketRouteToContextMixin,
    AppChannelWebSocketMixin,
)
from ws_routes.models import GatewayRoute as ApiGatewayAdditionalRoute  # noqa: F401

from .shim import missing_names

__getattr__ = missing_names(__name__)
