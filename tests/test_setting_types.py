"""Issue 26 item 5: settings that failed silently are errors at ``manage.py check``.

Each ``WS_ROUTES`` value is checked against its type in ``ws_routes.conf.TYPES`` (E012), and a
top-level setting named like ``WS_ROUTES`` (E013) is reported instead of being ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ws_routes.checks import CHECKED_ELSEWHERE, check_ws_routes_settings
from ws_routes.conf import DEFAULTS, TYPES
from ws_routes.setting_types import KINDS, kinds_of, near_miss_names, type_problem

SECRET = "x" * 40


def problems(settings, **values):
    settings.WS_ROUTES = {"GATEWAY_SECRETS": [SECRET], **values}
    return check_ws_routes_settings()


def test_every_setting_has_a_type_and_every_type_a_setting():
    # A new setting cannot be added to DEFAULTS without its type (and no type is left over).
    assert set(TYPES) == set(DEFAULTS)
    for name in TYPES:
        assert kinds_of(name), name


def test_every_default_has_its_own_type():
    for name, default in DEFAULTS.items():
        assert type_problem(name, default) is None, name


def test_an_unknown_kind_in_the_table_is_refused(monkeypatch):
    monkeypatch.setitem(TYPES, "MAX_BODY_BYTES", "int>=1 | integer")
    with pytest.raises(KeyError, match="unknown kind 'integer'"):
        kinds_of("MAX_BODY_BYTES")


def test_connect_rate_limit_as_a_number_is_an_error(settings):
    # It was a TypeError on every connect (the view unpacks (count, seconds)).
    (problem,) = problems(settings, CONNECT_RATE_LIMIT=60)
    assert problem.id == "ws_routes.E012"
    assert problem.msg == (
        "WS_ROUTES['CONNECT_RATE_LIMIT'] must be None or a pair (count, seconds) of integers "
        ">= 1, not 60 (int)."
    )
    assert "(60, 60)" in problem.hint


def test_max_body_bytes_as_text_is_an_error(settings):
    (problem,) = problems(settings, MAX_BODY_BYTES="128k")
    assert problem.id == "ws_routes.E012"
    assert problem.msg == "WS_ROUTES['MAX_BODY_BYTES'] must be an integer >= 1, not '128k' (str)."
    assert "131072" in problem.hint


#: One wrong value of each kind the table uses (a bool is no integer: True would be 1 byte).
WRONG_BY_KIND = {
    "bool": "yes",
    "str": 5,
    "name": "",
    "regex": "([a-z",
    "dotted": "not a path",
    "callable": 5,
    "object": 5,
    "url": "127.0.0.1:8001",
    "path": 5,
    "int": "5",
    "int>=0": -1,
    "int>=1": True,
    "number>0": 0,
    "number>=0": "0.5",
    "list[str]": "https://a.b",
    "pair[int>=1]": (60, "60"),
    "None": 0,
}


def _wrong_value(name):
    kinds = kinds_of(name)
    for kind in kinds:
        candidate = WRONG_BY_KIND[kind]
        if type_problem(name, candidate) is not None:
            return candidate
    # every single-kind wrong value is accepted by another alternative: a list fits none here
    return [object()]


@pytest.mark.parametrize("name", sorted(set(TYPES) - set(CHECKED_ELSEWHERE)))
def test_every_other_setting_of_the_wrong_type_is_an_error(settings, name):
    value = _wrong_value(name)
    found = [p for p in problems(settings, **{name: value}) if p.id == "ws_routes.E012"]
    assert len(found) == 1, (name, value, found)
    assert found[0].msg.startswith(f"WS_ROUTES[{name!r}] must be ")
    assert f"not {value!r}"[:40] in found[0].msg


def test_every_kind_has_a_wrong_value_here():
    assert set(WRONG_BY_KIND) == set(KINDS)


@pytest.mark.parametrize(
    "name, value",
    [
        ("CONNECT_RATE_LIMIT", None),
        ("CONNECT_RATE_LIMIT", [10, 60]),
        ("SEND_TIMEOUT_SECONDS", 2),
        ("PRESENCE_USER", "myapp.ws.describe"),
        ("PRESENCE_USER", lambda user: {}),
        ("TEMPLATE_FILE", Path("gateways.yaml")),
        ("MANAGEMENT_ENDPOINT", "https://gw.example.com/{stage}"),
        ("SEND_TRANSPORT", "ws_routes.sending.HttpTransport"),
    ],
)
def test_right_values_are_accepted(settings, name, value):
    assert problems(settings, **{name: value}) == []


def test_settings_with_their_own_check_are_named_once(settings):
    found = problems(settings, ALLOWED_ORIGINS="https://a.b")
    assert [p.id for p in found] == ["ws_routes.E006"]


def test_hostile_values_do_not_break_the_check(settings):
    class Exploding:
        def __repr__(self):
            return "<Exploding " + "x" * 500 + ">"

        def __eq__(self, other):
            raise RuntimeError("compared")

        __hash__ = object.__hash__

    found = problems(settings, MAX_BODY_BYTES=Exploding(), CONNECT_RATE_LIMIT=(1e999, 60))
    assert [p.id for p in found] == ["ws_routes.E012", "ws_routes.E012"]
    assert all(len(p.msg) < 200 for p in found)


def test_unknown_key_names_the_one_meant(settings):
    (problem,) = problems(settings, MAX_BODY_BYTE=1)
    assert problem.id == "ws_routes.E002"
    assert "'MAX_BODY_BYTE': did you mean MAX_BODY_BYTES?" in problem.msg


def test_ws_route_singular_at_top_level_is_an_error(settings):
    settings.WS_ROUTE = {"GATEWAY_SECRETS": [SECRET]}
    found = [p for p in check_ws_routes_settings() if p.id == "ws_routes.E013"]
    assert len(found) == 1
    assert found[0].msg.startswith("settings.WS_ROUTE is not read by ws_routes")
    assert "Rename WS_ROUTE to WS_ROUTES" in found[0].hint


@pytest.mark.parametrize(
    "name, near",
    [
        ("WS_ROUTE", True),
        ("WSROUTES", True),
        ("WS_ROUTES_", True),
        ("WS_ROUTS", True),
        ("WS_ROUTES", False),
        ("WS_ROUTES_LOG_LEVEL_NAME", False),
        ("ROOT_URLCONF", False),
        ("ws_routes", False),
    ],
)
def test_near_miss_names(name, near):
    assert (near_miss_names([name]) == [name]) is near
