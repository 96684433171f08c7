"""ChannelRule: the reference's ChannelPermission semantics as values (issue 13, item 1)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import RequestFactory

from ws_routes.compat.channel_rules import ChannelRule


@pytest.mark.django_db
def test_rules_follow_channel_permission_allows(django_user_model):
    plain = django_user_model.objects.create_user("plain")
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    root = django_user_model.objects.create_user("root", is_superuser=True)
    inactive_root = django_user_model.objects.create_user(
        "gone", is_superuser=True, is_active=False
    )
    plain.user_permissions.add(Permission.objects.get(codename="add_user"))
    cases = {
        ChannelRule.allow_all(): [None, AnonymousUser(), plain, staff, root, inactive_root],
        ChannelRule.staff_only(): [staff, root],
        ChannelRule.superuser_only(): [root],
        ChannelRule.permissions(["auth.add_user"]): [plain, root],
        ChannelRule.permissions(["auth.add_user", "auth.change_user"]): [root],
        ChannelRule.permissions(): [root],  # no rules: superusers only
        ChannelRule.permissions([]): [root],  # an empty rule: superusers only
    }
    everyone = [None, AnonymousUser(), plain, staff, root, inactive_root]
    for rule, allowed in cases.items():
        for user in everyone:
            assert rule.allows(user) is (user in allowed), (rule, user)


@pytest.mark.django_db
def test_may_join_is_a_channel_authoriser(django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    request = RequestFactory().get("/")
    request.user = staff
    may_join = ChannelRule.staff_only().may_join()
    assert may_join(request, room="42") is True
    request.user = AnonymousUser()
    assert may_join(request) is False
    assert may_join(object()) is False  # a request without a user is refused


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: ChannelRule("everyone"), ValueError),
        (lambda: ChannelRule(""), ValueError),
        (lambda: ChannelRule.permissions("auth.add_user"), TypeError),
        (lambda: ChannelRule("permissions", (["auth.add_user"],)), TypeError),
        (lambda: ChannelRule("permissions", (frozenset({1}),)), TypeError),
    ],
)
def test_bad_rules_fail_when_written(make, error):
    with pytest.raises(error):
        make()
