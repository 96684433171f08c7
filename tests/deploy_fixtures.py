"""Fixtures for the deploy, command and admin tests.

Test modules load them with ``pytest_plugins = ["tests.deploy_fixtures"]``.

The helpers they use, and the moto gaps they fill, are described in tests/deploy_support.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.deploy_support import REGION, RecordingClient, build_router, mount_router
from tests.e2e.support import control_plane_client
from ws_routes.deploy import aws as deploy_aws
from ws_routes.models import ApiGateway
from ws_routes.routing import Router

# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def ws_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.deploy_support"


@pytest.fixture
def ws_router(monkeypatch: pytest.MonkeyPatch, ws_urls: None) -> Router:
    """A fresh registry mounted at /ws/ (mutable: tests add and remove routes)."""
    router = build_router()
    mount_router(monkeypatch, router)
    return router


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def control_plane() -> Iterator[Any]:
    """A local gateway serving only what is deployed to it (its control plane is apigatewayv2)."""
    from ws_routes.local_gateway import LocalGateway

    with LocalGateway() as gateway:
        yield gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, control_plane: Any) -> Iterator[RecordingClient]:
    """apigatewayv2 is the emulator's control plane (``aws.gateway``); Route 53 and STS moto.

    The library's client factories return recorders around them.
    """
    from moto import mock_aws

    _fake_credentials(monkeypatch)
    with mock_aws():
        emulator = control_plane_client(control_plane, REGION)
        client = RecordingClient(emulator)
        client.gateway = control_plane
        client.route53 = RecordingClient(boto3.client("route53", region_name=REGION))
        client.sts = RecordingClient(boto3.client("sts", region_name=REGION))
        monkeypatch.setattr(deploy_aws, "apigateway_client", lambda gateway: client)
        monkeypatch.setattr(deploy_aws, "route53_client", lambda gateway: client.route53)
        monkeypatch.setattr(deploy_aws, "sts_client", lambda gateway: client.sts)
        yield client


@pytest.fixture
def aws_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingClient]:
    """moto for every service, apigatewayv2 included: for custom domains and API mappings,
    which the emulator does not serve (moto maps only an API it holds itself)."""
    from moto import mock_aws

    _fake_credentials(monkeypatch)
    with mock_aws():
        client = RecordingClient(
            boto3.client("apigatewayv2", region_name=REGION), fill_moto_gaps=True
        )
        client.route53 = RecordingClient(boto3.client("route53", region_name=REGION))
        client.sts = RecordingClient(boto3.client("sts", region_name=REGION))
        monkeypatch.setattr(deploy_aws, "apigateway_client", lambda gateway: client)
        monkeypatch.setattr(deploy_aws, "route53_client", lambda gateway: client.route53)
        monkeypatch.setattr(deploy_aws, "sts_client", lambda gateway: client.sts)
        yield client


@pytest.fixture
def ws_gateway(db: Any, ws_router: Router) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="chat",
        api_description="Chat",
        target_base_endpoint="https://www.example.com/ws/",
        region=REGION,
        stage_name="production",
        domain_name="ws.example.com",
        certificate_arn=f"arn:aws:acm:{REGION}:123456789012:certificate/abc",
    )
