"""Issue 26 item 1: no project rule may decide who joins ``user:{user_id}``.

A project rule such as ``{kind}:{slug}`` (or ``user:{name}``, now refused) was consulted before
the built-in one, so another user, or an anonymous socket, could join ``user:1`` and receive
``Channel("user:1").send(...)``. The built-in rule is now consulted first, by every router.
"""

from __future__ import annotations

import gc
import json

import pytest

from ws_routes import RouteConfigurationError, Router
from ws_routes.channel_rules import USER_CHANNEL_RULE, match_channel_globally
from ws_routes.channels import enable_channel_routes
from ws_routes.testing import WsTestClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def wide_router():
    """A router whose rule matches every ``a:b`` name and lets anyone in; gone after the test
    (the channel registry is weak: it would otherwise judge other tests' names too)."""
    router = Router(app_name="wide_router")
    enable_channel_routes(router)
    router.add_channel("{kind}:{slug}")
    yield router
    # pytest's fixture cache still holds the router here, so dropping our name would not free
    # its (weakly held) registry: empty it, or {kind}:{slug} judges later tests' names.
    router._channels._rules.clear()
    del router
    gc.collect()


def test_the_built_in_rule_judges_user_names_before_any_project_rule(wide_router):
    found = match_channel_globally("user:1", wide_router.channel_rules)
    assert found is not None and found[0] is USER_CHANNEL_RULE
    assert wide_router.match_channel("user:1")[0] is USER_CHANNEL_RULE
    assert match_channel_globally("team:ops", None)[0].pattern == "{kind}:{slug}"


def test_another_user_and_anonymous_cannot_join_a_users_channel(wide_router, alice, bob):
    ws = WsTestClient(wide_router)
    for who in (bob, None):
        refused = ws.connect(user=who, channel=f"user:{alice.pk}")
        assert refused.response.status_code == 403
        assert json.loads(refused.response.content)["error"]["code"] == "channel_forbidden"
        conn = ws.connect(user=who)
        answer = conn.send("channel.subscribe", {"channel": f"user:{alice.pk}"})
        assert answer.error and answer.error["code"] == "channel_forbidden", answer
    assert ws.connect(user=alice, channel=f"user:{alice.pk}").accepted


@pytest.mark.parametrize("pattern", ["user:{name}", "user:{user_id}", "user:admin", "user:{a}:x"])
def test_a_project_pattern_in_the_user_namespace_is_refused(pattern):
    router = Router(app_name="user_namespace")
    with pytest.raises(RouteConfigurationError, match="'user:' channels are built in"):
        router.add_channel(pattern)
