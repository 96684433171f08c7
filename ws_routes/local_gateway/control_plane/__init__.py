"""The API Gateway v2 control plane the library uses, so ``syncroutes`` can deploy locally.

An unmodified boto3 client works against it::

    client = boto3.client("apigatewayv2", endpoint_url=gateway.control_plane_endpoint)
    client.get_apis()

or, as the library itself is pointed at it, ``AWS_ENDPOINT_URL_APIGATEWAYV2=http://127.0.0.1:8001``.
Served: apis, integrations, routes, route responses, models, stages and deployments (create, get,
list with ``maxResults``/``nextToken``, update, delete). Paths, members and status codes are read
from botocore's ``apigatewayv2`` model (:mod:`.service_model`).
"""

from .http_api import CONTROL_PLANE_PREFIX, ControlPlane
from .state import ControlPlaneState, StateFileError

__all__ = ["CONTROL_PLANE_PREFIX", "ControlPlane", "ControlPlaneState", "StateFileError"]
