"""Every AWS control-plane call of ``ws_routes.deploy`` goes through this module.

Clients are created in one place (:func:`_cached_client`) and every call is made by one function
(:func:`call_aws`): it waits for the pace of :mod:`.pace` before each call and retries throttled
ones; ``WS_ROUTES["AWS_ENDPOINT_URL_APIGATEWAYV2"]`` overrides the control plane's endpoint. AWS
and transport failures become an :class:`~.errors.AwsCallError` naming the call; no region
anywhere is a :class:`~.errors.PlanError` saying where to set one.

Example::

    client = apigateway_client(gateway)
    apis = list_all(client, "get_apis")
"""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import ws_setting
from ..endpoint_override import apigatewayv2_endpoint_url
from ..models import ApiGateway
from . import pace
from .errors import AwsCallError, PlanError

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
        # Adaptive: botocore also slows its own sending rate after throttles; call_aws paces
        # and retries throttles on top of it (and for injected clients).
        retries={"mode": "adaptive", "max_attempts": 3},
    )
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def _client(service: str, gateway: ApiGateway, endpoint_url: str | None = None) -> Any:
    from botocore.exceptions import NoRegionError

    try:
        return _cached_client(service, gateway.get_region() or None, endpoint_url)
    except ValueError as error:  # botocore: "Invalid endpoint: ..."
        raise PlanError(
            f"WS_ROUTES['AWS_ENDPOINT_URL_APIGATEWAYV2'] = {endpoint_url!r} is not usable as "
            f"the {service} endpoint: {error}"
        ) from None
    except NoRegionError:
        raise PlanError(
            f"Gateway {gateway.api_name!r} has no AWS region: set it on the gateway (the admin's "
            "Region field, ApiGateway.region), in WS_ROUTES['REGION'], or as AWS_REGION / "
            "AWS_DEFAULT_REGION (or region in ~/.aws/config) for boto3."
        ) from None


def apigateway_client(gateway: ApiGateway) -> Any:
    """The cached ``apigatewayv2`` client for the gateway's region (connect 5 s, read 30 s)."""
    try:
        endpoint_url = apigatewayv2_endpoint_url()
    except ImproperlyConfigured as error:  # a DeployError, so commands answer it plainly
        raise PlanError(str(error)) from None
    return _client("apigatewayv2", gateway, endpoint_url)


def route53_client(gateway: ApiGateway) -> Any:
    """The cached Route 53 client, used only when a gateway has a ``hosted_zone_id``."""
    return _client("route53", gateway)


def lambda_client(gateway: ApiGateway) -> Any:
    """The cached Lambda client, used only for a gateway with ``target_lambda_arn``."""
    return _client("lambda", gateway)


def sts_client(gateway: ApiGateway) -> Any:
    """The cached STS client, used only to learn the account id for the IAM policy."""
    return _client("sts", gateway)


def call_aws(client: Any, operation: str, /, **kwargs: Any) -> Any:
    """One AWS call, paced (:mod:`.pace`); a throttled call is retried with backoff up to
    ``DEPLOY_THROTTLE_RETRIES`` times. Any AWS or transport failure becomes an
    :class:`AwsCallError` naming it."""
    from botocore.exceptions import BotoCoreError, ClientError  # AWS libraries load on first use

    region = str(getattr(getattr(client, "meta", None), "region_name", None) or "")
    pacer = pace.pacer
    retries = max(0, int(ws_setting("DEPLOY_THROTTLE_RETRIES") or 0))
    for attempt in range(retries + 1):
        pacer.wait(region, operation)
        try:
            return getattr(client, operation)(**kwargs)
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code", "Unknown"))
            if code in pace.THROTTLE_CODES and attempt < retries:
                pacer.throttled(region)
                pacer.backoff(attempt)
                continue
            raise AwsCallError(operation, code, str(details.get("Message", error))) from error
        except BotoCoreError as error:
            raise AwsCallError(operation, type(error).__name__, str(error)) from error
    raise AssertionError("unreachable")  # the last attempt returns or raises


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
