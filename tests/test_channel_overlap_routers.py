"""Issue 26 item 1, across routers: two mounted routers whose channel rules share a name.

Authorisation is global (``match_channel_globally``): the first router's rule judges a name for
sockets of every router, so ``team:{slug}`` on one router beside ``team:{name}`` on another let
creation order decide silently who may join ``team:x``. ``manage.py check`` says so
(``ws_routes.E016``) for the routers the URLconf mounts.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import include, path

from ws_routes import Router
from ws_routes.channel_rules import match_channel_globally
from ws_routes.route_checks import checked_routers, cross_router_overlaps

urlpatterns: list[Any] = []


def router_with(app_name: str, *patterns: str) -> Router:
    router = Router(app_name=app_name)
    for pattern in patterns:
        router.channel(pattern)(lambda request, **values: True)
    return router


def test_overlapping_rules_of_two_routers_are_an_error_naming_both():
    first = router_with("first", "judge:{slug}", "calm:{x}")
    second = router_with("second", "judge:{name}")
    [problem] = cross_router_overlaps([first, second])
    assert problem.id == "ws_routes.E016"
    assert "'judge:{name}' of <Router 'second'" in problem.msg
    assert "'judge:{slug}' of <Router 'first'" in problem.msg
    assert "both match 'judge:" in problem.msg
    # what the check prevents: the first router's rule judges the name for both routers
    found = match_channel_globally("judge:x")
    assert found is not None and found[0] is first.channel_rules[0]


@pytest.mark.parametrize(
    "mine, theirs",
    [("ovl:ops", "ovl:{slug}"), ("{kind}:ovl", "x:{kind}"), ("ovl:{a}.{b}", "ovl:{c}")],
)
def test_a_literal_or_a_wider_pattern_elsewhere_overlaps_too(mine, theirs):
    found = cross_router_overlaps([router_with("a", mine), router_with("b", theirs)])
    assert [p.id for p in found] == ["ws_routes.E016"]


def test_disjoint_rules_and_catch_alls_are_fine():
    first = router_with("first", "dsj-one:{slug}", "{channel}")
    second = router_with("second", "dsj-two:{slug}", "{name}")
    assert cross_router_overlaps([first, second]) == []


def test_rules_of_one_router_are_judged_at_import_not_here():
    one = Router(app_name="one")
    one.channel("own:ops", before="own:{slug}")(lambda request: True)
    one.channel("own:{slug}")(lambda request, slug: True)
    assert cross_router_overlaps([one]) == []


def test_manage_py_check_refuses_two_mounted_routers_that_overlap(settings):
    first = router_with("mnt-first", "mnt:{slug}")
    second = router_with("mnt-second", "mnt:{name}")
    urlpatterns[:] = [path("a/", include(first.urls)), path("b/", include(second.urls))]
    settings.ROOT_URLCONF = __name__
    assert {first, second} <= set(checked_routers())
    with pytest.raises(SystemCheckError, match=r"ws_routes\.E016"):
        call_command("check")


def test_the_project_routers_pass():
    assert cross_router_overlaps(checked_routers()) == []
