"""``WS_ROUTES["AWS_ENDPOINT_URL_APIGATEWAYV2"]`` reaches the deploy client, as the env var does."""

import pytest

from ws_routes.deploy import aws
from ws_routes.models import ApiGateway


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_APIGATEWAYV2", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws._cached_client.cache_clear()
    yield
    aws._cached_client.cache_clear()


def gateway() -> ApiGateway:
    return ApiGateway(api_name="g", region="eu-west-2")


def test_the_setting_points_the_client_at_the_local_gateway(settings):
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:9",
    }
    assert aws.apigateway_client(gateway()).meta.endpoint_url == "http://127.0.0.1:9"


def test_without_it_boto3_decides_env_var_then_aws(settings, monkeypatch):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "AWS_ENDPOINT_URL_APIGATEWAYV2": None}
    url = aws.apigateway_client(gateway()).meta.endpoint_url
    assert url == "https://apigateway.eu-west-2.amazonaws.com"
    aws._cached_client.cache_clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", "http://127.0.0.1:7")
    assert aws.apigateway_client(gateway()).meta.endpoint_url == "http://127.0.0.1:7"


def test_changing_the_setting_gives_another_client(settings):
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:9",
    }
    first = aws.apigateway_client(gateway())
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:8",
    }
    assert aws.apigateway_client(gateway()) is not first
