"""Issue 26 item 4: ``WS_ROUTES["LOCAL_GATEWAY"]``, its checks and what runwsgateway prints.

The end-to-end run (syncroutes, the admin, a send) is tests/e2e/test_local_gateway_setting.py.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from ws_routes.checks import local_gateway_problems
from ws_routes.endpoint_override import apigatewayv2_endpoint_url, local_gateway_url
from ws_routes.management.commands.runwsgateway import paste_lines
from ws_routes.sending.endpoints import management_endpoint

LOCAL = "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    "value, expected",
    [
        (LOCAL, LOCAL),
        (LOCAL + "/", LOCAL),
        ("http://localhost:8001", "http://localhost:8001"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        ("https://gw.dev.example.com", "https://gw.dev.example.com"),
        (None, None),
        ("", None),
    ],
)
def test_accepted_values(value, expected):
    assert local_gateway_url(value if value is not None else "") == expected


@pytest.mark.parametrize(
    "value, says",
    [
        ("ftp://127.0.0.1:8001", "must be an http(s)://host[:port] URL"),
        ("127.0.0.1:8001", "must be an http(s)://host[:port] URL"),
        ("http://127.0.0.1:8001/production", "must be an http(s)://host[:port] URL"),
        ("http://127.0.0.1:8001?x=1", "must be an http(s)://host[:port] URL"),
        ("http://user:pw@127.0.0.1:8001", "must be an http(s)://host[:port] URL"),
        ("http://127.0.0.1:99999", "must be an http(s)://host[:port] URL"),
        ("http://", "must be an http(s)://host[:port] URL"),
        (8001, "must be an http(s)://host[:port] URL"),
        ("http://" + "a" * 600, "must be an http(s)://host[:port] URL"),
        ("http://10.0.0.5:8001", "is http:// to a host that is not loopback"),
        ("http://gw.example.com", "is http:// to a host that is not loopback"),
        ("http://127.0.0.1.example.com:8001", "is http:// to a host that is not loopback"),
    ],
)
def test_refused_values(value, says):
    with pytest.raises(ImproperlyConfigured, match=r"WS_ROUTES\['LOCAL_GATEWAY'\]") as caught:
        local_gateway_url(value)
    assert says in str(caught.value)
    assert len(str(caught.value)) < 400


def test_one_setting_points_sends_and_the_control_plane(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LOCAL_GATEWAY": LOCAL}
    assert management_endpoint("abc123", "production", None) == LOCAL + "/production"
    assert apigatewayv2_endpoint_url() == LOCAL


def test_the_explicit_settings_still_win(settings):
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        "LOCAL_GATEWAY": LOCAL,
        "MANAGEMENT_ENDPOINT": "http://127.0.0.1:9000/{stage}",
        "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:9001",
    }
    assert management_endpoint("abc123", "prod", None) == "http://127.0.0.1:9000/prod"
    assert apigatewayv2_endpoint_url() == "http://127.0.0.1:9001"


def test_a_refused_value_fails_the_send_and_the_sync_loudly(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LOCAL_GATEWAY": "http://10.1.2.3:8001"}
    with pytest.raises(ImproperlyConfigured, match="in clear"):
        management_endpoint("abc123", "prod", None)
    with pytest.raises(ImproperlyConfigured, match="in clear"):
        apigatewayv2_endpoint_url()


# -- the checks ---------------------------------------------------------------------------------


def ids(configured, environ=None):
    return [p.id for p in local_gateway_problems(configured, environ or {})]


def test_a_malformed_value_is_an_error():
    (problem,) = local_gateway_problems({"LOCAL_GATEWAY": "ftp://127.0.0.1"}, {})
    assert problem.id == "ws_routes.E015"
    assert "http(s)://host[:port]" in problem.msg


def test_a_remote_https_gateway_warns_that_credentials_go_there():
    (problem,) = local_gateway_problems({"LOCAL_GATEWAY": "https://gw.example.com"}, {})
    assert problem.id == "ws_routes.W014"
    assert "signed with your AWS credentials" in problem.msg and "gw.example.com" in problem.msg


def test_both_halves_local_or_neither_is_quiet():
    assert ids({}) == []
    assert ids({"LOCAL_GATEWAY": LOCAL}) == []
    both = {
        "AWS_ENDPOINT_URL_APIGATEWAYV2": LOCAL,
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": LOCAL + "/{stage}",
    }
    assert ids({}, both) == []


def test_the_environment_pointing_only_the_control_plane_at_loopback_warns():
    # The docs' old syncroutes command line: runserver then sent to AWS.
    (problem,) = local_gateway_problems({}, {"AWS_ENDPOINT_URL_APIGATEWAYV2": LOCAL})
    assert problem.id == "ws_routes.W013"
    assert problem.msg == (
        "Only half of the setup points at a local gateway: the control plane goes to a local "
        "gateway (http://127.0.0.1:8001) but the sends go to AWS."
    )
    assert 'WS_ROUTES["LOCAL_GATEWAY"] = "http://127.0.0.1:8001"' in problem.hint


def test_the_reverse_half_warns_too():
    configured = {"LOCAL_GATEWAY": LOCAL, "MANAGEMENT_ENDPOINT": "https://x.example.com/{stage}"}
    (problem,) = local_gateway_problems(configured, {})
    assert problem.id == "ws_routes.W013"
    assert "the control plane goes to a local gateway" in problem.msg
    assert "https://x.example.com/{stage}" in problem.msg
    only_sends = {"MANAGEMENT_ENDPOINT": LOCAL + "/{stage}"}
    assert ids(only_sends) == ["ws_routes.W013"]


def test_two_different_local_gateways_warn():
    configured = {"LOCAL_GATEWAY": LOCAL, "AWS_ENDPOINT_URL_APIGATEWAYV2": "http://127.0.0.1:9"}
    (problem,) = local_gateway_problems(configured, {})
    assert "two different local gateways" in problem.msg


def test_the_ignore_switch_drops_the_environment():
    environ = {
        "AWS_ENDPOINT_URL_APIGATEWAYV2": LOCAL,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    }
    assert ids({}, environ) == []


def test_the_check_runs_with_the_settings(settings, monkeypatch):
    from ws_routes.checks import check_ws_routes_settings

    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", LOCAL)
    monkeypatch.delenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    assert "ws_routes.W013" in [p.id for p in check_ws_routes_settings()]
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LOCAL_GATEWAY": LOCAL}
    assert "ws_routes.W013" not in [p.id for p in check_ws_routes_settings()]


# -- runwsgateway's lines to paste --------------------------------------------------------------


def test_runwsgateway_prints_the_line_to_paste(settings):
    lines = paste_lines(LOCAL)
    assert '    WS_ROUTES["LOCAL_GATEWAY"] = "http://127.0.0.1:8001"' in lines
    settings.WS_ROUTES = {**settings.WS_ROUTES, "LOCAL_GATEWAY": LOCAL}
    assert paste_lines(LOCAL) == []
    settings.WS_ROUTES = {**settings.WS_ROUTES, "MANAGEMENT_ENDPOINT": "http://elsewhere/{stage}"}
    assert any('drop WS_ROUTES["MANAGEMENT_ENDPOINT"]' in line for line in paste_lines(LOCAL))
