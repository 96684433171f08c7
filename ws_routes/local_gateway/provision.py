"""``runwsgateway --target URL`` with nothing deployed: provision from the router, by deploy.

The quick start stays one command, and what answers is still what ``syncroutes`` would have
deployed: the same :func:`ws_routes.deploy.sync_gateway` runs against this gateway's own control
plane. Its ``ApiGateway`` row is written in a transaction that is rolled back (the project's
database is left as it was: the deployment lives in the gateway, not in Django).

Example::

    lines = provision_from_router(endpoint, "http://127.0.0.1:8000/ws/", "local", key_pair)
"""

from __future__ import annotations

from typing import Any

#: Credentials a client signs with locally; the control plane does not check them.


class _RolledBack(Exception):
    """Raised inside the transaction so that nothing of the provisioning row is kept."""


def local_client(control_plane_endpoint: str, credentials: tuple[str, str]) -> Any:
    """A plain boto3 ``apigatewayv2`` client for this gateway's control plane, signing with
    ``credentials`` (access key id, secret key): the pair the gateway accepts."""
    import boto3

    key_id, secret_key = credentials
    return boto3.client(
        "apigatewayv2",
        endpoint_url=control_plane_endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
    )


def provision_from_router(
    control_plane_endpoint: str,
    target: str,
    stage: str,
    credentials: tuple[str, str],
    *,
    api_name: str = "runwsgateway-quick-start",
) -> list[str]:
    """Create and deploy the router's API on ``stage``; the sync report's lines.

    Raises :class:`ws_routes.deploy.DeployError` (bad configuration, no secret) or a database
    error (a project whose tables are not migrated) for the caller to report.
    """
    from django.db import transaction

    from ..conf import ws_setting
    from ..deploy import sync_gateway, sync_report
    from ..models import ApiGateway

    lines: list[str] = []
    client = local_client(control_plane_endpoint, credentials)
    try:
        with transaction.atomic():
            gateway = ApiGateway.objects.create(
                api_name=api_name,
                api_description="runwsgateway quick start",
                target_base_endpoint=target,
                stage_name=stage,
                route_selection_expression=f"$request.body.{ws_setting('ROUTE_SELECTION_KEY')}",
            )
            lines = sync_report(sync_gateway(gateway, client=client))
            raise _RolledBack
    except _RolledBack:
        pass
    return lines
