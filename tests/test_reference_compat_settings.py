"""The reference's settings are read as deprecated fallbacks of WS_ROUTES (issue 13, item 2),
and ``send_message`` takes its keyword arguments (item 6)."""

from __future__ import annotations

import threading
import warnings

import pytest
from django.core.management import call_command

from ws_routes.compat import send_options
from ws_routes.compat.checks import check_reference_settings, check_websocket_views
from ws_routes.conf import ws_setting, ws_settings
from ws_routes.models import WebSocketSession
from ws_routes.sending import management_endpoint, process
from ws_routes.sending.endpoints import SettingsEndpoints
from ws_routes.views import WebSocketView


def test_aws_gateway_region_name_alone_makes_sends_work(settings, monkeypatch):
    settings.WS_ROUTES = {}
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    with pytest.warns(DeprecationWarning, match=r"AWS_GATEWAY_REGION_NAME .*WS_ROUTES\['REGION'\]"):
        assert ws_setting("REGION") == "eu-west-2"
    assert ws_settings()["REGION"] == "eu-west-2"
    assert management_endpoint("abc123", "production", ws_setting("REGION")) == (
        "https://abc123.execute-api.eu-west-2.amazonaws.com/production"
    )
    # what the sender itself resolves (boto3's own chain would say another region)
    monkeypatch.setattr(process, "chain_region", lambda: "us-east-1")
    endpoint = SettingsEndpoints(ws_settings())("abc123", "production")
    assert endpoint.url == "https://abc123.execute-api.eu-west-2.amazonaws.com/production"
    assert endpoint.region == "eu-west-2"


def test_aws_region_name_is_the_second_choice_and_ws_routes_wins(settings):
    settings.WS_ROUTES = {}
    settings.AWS_REGION_NAME = "us-west-1"
    with pytest.warns(DeprecationWarning, match="AWS_REGION_NAME"):
        assert ws_setting("REGION") == "us-west-1"
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    with pytest.warns(DeprecationWarning, match="AWS_GATEWAY_REGION_NAME"):
        assert ws_setting("REGION") == "eu-west-2"
    settings.WS_ROUTES = {"REGION": "ap-south-1"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ws_setting("REGION") == "ap-south-1"


def test_websockets_dict_maps_every_documented_key(settings):
    settings.WS_ROUTES = {}
    settings.WEBSOCKETS = {
        "gateway_secret": "s" * 40,
        "token_expiry_seconds": 120,
        "token_rate_limit_per_minute": 5,
        "rate_limit_max_attempts": 7,
        "rate_limit_window_minutes": 2,
    }
    with pytest.warns(DeprecationWarning) as record:
        merged = ws_settings()
    messages = " ".join(str(w.message) for w in record)
    for new in ("GATEWAY_SECRETS", "TOKEN_TTL_SECONDS", "TOKEN_RATE_LIMIT_PER_MINUTE"):
        assert f"WS_ROUTES['{new}']" in messages
    assert merged["GATEWAY_SECRETS"] == ["s" * 40]
    assert merged["TOKEN_TTL_SECONDS"] == 120
    assert merged["TOKEN_RATE_LIMIT_PER_MINUTE"] == 5
    assert merged["CONNECT_RATE_LIMIT"] == (7, 120)
    # warned once per fill: the next reads are silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ws_setting("TOKEN_TTL_SECONDS") == 120


def test_one_rate_limit_key_keeps_the_reference_default_for_the_other(settings):
    settings.WS_ROUTES = {}
    settings.WEBSOCKETS = {"rate_limit_window_minutes": 5}
    with pytest.warns(DeprecationWarning, match="rate_limit_window_minutes"):
        assert ws_setting("CONNECT_RATE_LIMIT") == (20, 300)


@pytest.mark.parametrize(
    "bad",
    [
        {"token_expiry_seconds": 0},
        {"token_expiry_seconds": -5},
        {"token_expiry_seconds": True},
        {"token_expiry_seconds": "60"},
        {"token_expiry_seconds": 1.5},
        {"gateway_secret": ""},
        {"gateway_secret": ["ok" * 20, 5]},
        {"gateway_secret": None},
    ],
)
def test_invalid_values_are_ignored_as_the_reference_ignores_them(settings, bad):
    settings.WS_ROUTES = {}
    settings.WEBSOCKETS = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged = ws_settings()
    assert merged["TOKEN_TTL_SECONDS"] == 60
    assert merged["GATEWAY_SECRETS"] == []


@pytest.mark.parametrize("value", ["not a dict", ["a"], 5, None])
def test_a_websockets_setting_that_is_not_a_dict_is_ignored(settings, value):
    settings.WS_ROUTES = {}
    settings.WEBSOCKETS = value
    assert ws_settings()["TOKEN_TTL_SECONDS"] == 60


def test_checks_name_the_new_key_and_report_settings_without_counterpart(settings):
    settings.WS_ROUTES = {}
    settings.WEBSOCKETS = {"token_expiry_seconds": 90, "push_changes_to_aws": False}
    settings.AWS_IAM_PROFILE = "prod"
    settings.AWS_ACCESS_KEY_ID = "AKIA..."
    problems = check_reference_settings()
    by_id: dict[str, list[str]] = {}
    for problem in problems:
        by_id.setdefault(problem.id, []).append(f"{problem.msg} {problem.hint}")
    assert any("TOKEN_TTL_SECONDS" in text for text in by_id["ws_routes.W101"])
    texts = " ".join(by_id["ws_routes.W102"])
    assert "push_changes_to_aws" in texts and "syncroutes" in texts
    assert "AWS_IAM_PROFILE" in texts and "AWS_PROFILE" in texts
    assert "AWS_ACCESS_KEY_ID" in texts


def test_view_attributes_that_work_differently_are_reported():
    class Limited(WebSocketView):
        RATE_LIMIT_MAX_ATTEMPTS = 3
        required_headers = ["Host"]

    problems = [p for p in check_websocket_views() if p.obj is Limited]
    hints = " ".join(p.hint for p in problems)
    assert {p.id for p in problems} == {"ws_routes.W103"}
    assert "CONNECT_RATE_LIMIT" in hints and "GATEWAY_SECRETS" in hints


def test_manage_check_runs_the_compat_checks(settings, capsys):
    settings.WEBSOCKETS = {"allowed_integration_hosts": ["www.example.com"]}
    call_command("check")
    assert "ws_routes.W102" in capsys.readouterr().err


# -- send_message's keyword arguments ---------------------------------------------------------


@pytest.mark.django_db
def test_queryset_send_message_accepts_max_workers_and_warns_once(captured_sends):
    WebSocketSession.objects.create(connection_id="a=", api_id="abc123", stage="production")
    send_options.forget_warnings()
    with pytest.warns(DeprecationWarning, match="SEND_CONCURRENCY"):
        WebSocketSession.objects.all().send_message({"n": 1}, max_workers=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WebSocketSession.objects.all().send_message({"n": 2}, max_workers=4)
    assert captured_sends == [("a=", {"n": 1}), ("a=", {"n": 2})]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_workers": 0}, ValueError),
        ({"max_workers": -1}, ValueError),
        ({"max_workers": "4"}, TypeError),
        ({"max_workers": True}, TypeError),
        ({"max_workers": 2.5}, TypeError),
        ({"workers": 4}, TypeError),
        ({"timeout": 1}, TypeError),
    ],
)
def test_bad_send_message_arguments_fail_before_sending(captured_sends, kwargs, error):
    WebSocketSession.objects.create(connection_id="a=", api_id="abc123", stage="production")
    with pytest.raises(error):
        WebSocketSession.objects.all().send_message({"n": 1}, **kwargs)
    assert captured_sends == []


def test_send_option_warning_is_once_across_threads():
    send_options.forget_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [
            threading.Thread(target=send_options.check_send_options, args=({"max_workers": 2},))
            for _ in range(16)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len([w for w in caught if issubclass(w.category, DeprecationWarning)]) == 1
