"""Every AWS control-plane call of ``ws_routes.deploy`` goes through this module.

Clients are created in one place (:func:`_cached_client`) and every call is made by one function
(:func:`call_aws`), so pacing of control-plane calls or an endpoint override belongs here and
nowhere else. AWS and transport failures become an :class:`~.errors.AwsCallError` naming the call.

Example::

    client = apigateway_client(gateway)
    apis = list_all(client, "get_apis")
"""

from __future__ import annotations

import functools
from typing import Any

from ..endpoint_override import apigatewayv2_endpoint_url
from ..models import ApiGateway
from .errors import AwsCallError

#: AWS clients: fail fast on a dead endpoint, retry throttling the standard way.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30


@functools.lru_cache(maxsize=32)
def _cached_client(service: str, region: str | None, endpoint_url: str | None = None) -> Any:
    """The one place a boto3 client is created (one per service, region and endpoint, kept)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.client(service, region_name=region, config=config, endpoint_url=endpoint_url)


def apigateway_client(gateway: ApiGateway) -> Any:
    """The cached ``apigatewayv2`` client for the gateway's region (connect 5 s, read 30 s)."""
    return _cached_client("apigatewayv2", gateway.get_region(), apigatewayv2_endpoint_url())


def route53_client(gateway: ApiGateway) -> Any:
    """The cached Route 53 client, used only when a gateway has a ``hosted_zone_id``."""
    return _cached_client("route53", gateway.get_region())


def sts_client(gateway: ApiGateway) -> Any:
    """The cached STS client, used only to learn the account id for the IAM policy."""
    return _cached_client("sts", gateway.get_region())


def call_aws(client: Any, operation: str, /, **kwargs: Any) -> Any:
    """One AWS call; any AWS or transport failure becomes an :class:`AwsCallError` naming it."""
    from botocore.exceptions import BotoCoreError, ClientError  # AWS libraries load on first use

    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise AwsCallError(
            operation, str(details.get("Code", "Unknown")), str(details.get("Message", error))
        ) from error
    except BotoCoreError as error:
        raise AwsCallError(operation, type(error).__name__, str(error)) from error


def list_all(client: Any, operation: str, /, **kwargs: Any) -> list[dict[str, Any]]:
    """All items of a paginated ``get_*`` call (API Gateway pages with NextToken)."""
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(10_000):
        page = call_aws(client, operation, **kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get("Items", []))
        token = page.get("NextToken")
        if not token:
            return items
    raise AwsCallError(operation, "TooManyPages", "pagination did not end after 10,000 pages")


def is_not_found(error: AwsCallError) -> bool:
    """Whether the call failed because the thing asked for does not exist."""
    return error.code in ("NotFoundException", "ResourceNotFoundException")
