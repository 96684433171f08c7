"""System checks name the problem and say how to fix it."""

import pytest

from ws_routes.checks import check_ws_routes_settings


def ids(settings_value, settings, debug=False):
    settings.WS_ROUTES = settings_value
    settings.DEBUG = debug
    return [problem.id for problem in check_ws_routes_settings()]


def test_test_settings_are_clean(settings):
    assert check_ws_routes_settings() == []


def test_empty_secrets_is_an_error_even_in_debug(settings):
    # Issue 10 item 2: the view refuses every call without a secret, DEBUG included.
    assert ids({}, settings) == ["ws_routes.E004"]
    assert ids({}, settings, debug=True) == ["ws_routes.E004"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("not a dict", ["ws_routes.E001"]),
        ({"GATEWAY_SECRET": "typo"}, ["ws_routes.E002", "ws_routes.E004"]),
        ({"GATEWAY_SECRETS": "a-string-not-a-list-" * 3}, ["ws_routes.E003"]),
        ({"GATEWAY_SECRETS": ["short"]}, ["ws_routes.E005"]),
        ({"GATEWAY_SECRETS": ["x" * 40 + "'quote"]}, ["ws_routes.E005"]),
        ({"GATEWAY_SECRETS": ["x" * 40], "ALLOWED_ORIGINS": "https://a.b"}, ["ws_routes.E006"]),
        (
            {"GATEWAY_SECRETS": ["x" * 40], "ALLOWED_ORIGINS": ["https://a.b/path", "a.b"]},
            ["ws_routes.E007", "ws_routes.E007"],
        ),
        ({"GATEWAY_SECRETS": ["x" * 40], "ALLOWED_ORIGINS": ["*"]}, ["ws_routes.W001"]),
    ],
)
def test_misconfigurations(settings, value, expected):
    assert ids(value, settings) == expected


def test_hint_says_how_to_fix(settings):
    settings.WS_ROUTES = {}
    (problem,) = check_ws_routes_settings()
    assert "token_urlsafe" in problem.hint and "GATEWAY_SECRETS" in problem.hint


def test_each_check_id_is_defined_in_one_module():
    # Two branches once both took ws_routes.E010 for different problems.
    import re
    from collections import defaultdict
    from pathlib import Path

    definition = re.compile(r'(?:\bid=|_ID\s*=\s*)"(ws_routes\.[EW]\d{3})"')
    where: dict[str, set[str]] = defaultdict(set)
    for path in Path("ws_routes").rglob("*.py"):
        for check_id in definition.findall(path.read_text()):
            where[check_id].add(str(path))
    shared = {check_id: paths for check_id, paths in where.items() if len(paths) > 1}
    assert where and not shared, shared
