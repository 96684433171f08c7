"""``manage.py import_reference_data`` against the reference's own tables (issue 13, item 4).

The tables come from tests/reference_tables.py (a copy of the reference 4.1.0 schema); the
permission grants use the real ``auth`` tables with the reference's content types.
"""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import close_old_connections

from tests import reference_tables as ref
from ws_routes.compat.reference_data import import_reference_data
from ws_routes.models import ApiGateway, GatewayRoute

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reference_tables():
    ref.create_tables()
    yield
    ref.drop_tables()


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_reference_data", *args, stdout=out)
    return out.getvalue()


def reference_permission(model: str, codename: str) -> Permission:
    content_type, _ = ContentType.objects.get_or_create(app_label=ref.APP, model=model)
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=codename, defaults={"name": codename}
    )
    return permission


@pytest.fixture
def reference_rows(reference_tables, alice):
    chat = ref.ApiGateway.objects.create(
        api_name="chat",
        target_base_endpoint="https://www.example.com/ws/",
        default_channel_name="lobby",
        api_id="abc123",
        api_endpoint="wss://abc123.execute-api.eu-west-2.amazonaws.com",
        deployment_id="dep1",
        api_created=True,
        provisioning_status="deployed",
        tags={"team": "web"},
    )
    ref.ApiGateway.objects.create(api_name="bare", target_base_endpoint=None)
    ref.ApiGatewayAdditionalRoute.objects.create(
        api_gateway=chat,
        name="Chat",
        route_key="chat",
        integration_url="https://www.example.com/ws/chat",
        deployed=True,
        route_id="r1",
        integration_id="i1",
    )
    ref.ApiGatewayAdditionalRoute.objects.create(
        api_gateway=chat, name="Other", route_key="report", integration_url="https://api.x.com/r"
    )
    ref.ApiGatewayAdditionalRoute.objects.create(
        api_gateway=chat, name="Bad", route_key="$weird key", integration_url="https://x.com/"
    )
    editors = Group.objects.create(name="editors")
    editors.permissions.add(reference_permission("apigateway", "change_apigateway"))
    alice.user_permissions.add(
        reference_permission("apigatewayadditionalroute", "view_apigatewayadditionalroute"),
        reference_permission("connectionratelimit", "view_connectionratelimit"),
    )
    staff = ref.ChannelPermission.objects.create(channel_name="staff", access="staff_only")
    vip = ref.ChannelPermission.objects.create(channel_name="vip", access="permissions")
    rule = ref.ChannelPermissionRule.objects.create(channel_permission=vip)
    ref.ChannelPermissionRulePermissions.objects.create(
        channelpermissionrule=rule, permission_id=Permission.objects.get(codename="add_user").pk
    )
    assert staff.pk
    return chat


def test_dry_run_prints_and_copies_nothing(reference_rows):
    out = run("--dry-run")
    assert "would copy gateway 'chat' (api_id abc123)" in out
    assert "would copy route 'chat' of 'chat' -> the router's integration" in out
    assert "would copy route 'report' of 'chat' -> https://api.x.com/r" in out
    assert "skipped route '$weird key'" in out
    assert "would copy grant ws_routes.change_apigateway to group editors" in out
    assert "would copy grant ws_routes.view_gatewayroute to user alice" in out
    assert "'view_connectionratelimit' (1 grants): no counterpart" in out
    assert ApiGateway.objects.count() == 0 and GatewayRoute.objects.count() == 0
    assert (
        not Group.objects.get(name="editors")
        .permissions.filter(content_type__app_label="ws_routes")
        .exists()
    )


def test_import_copies_then_is_idempotent(reference_rows, alice):
    out = run()
    assert "Copied 6 item(s)" in out, out
    chat = ApiGateway.objects.get(api_name="chat")
    assert (chat.api_id, chat.deployment_id, chat.api_created) == ("abc123", "dep1", True)
    assert (chat.default_channel_name, chat.tags, chat.provisioning_status) == (
        "lobby",
        {"team": "web"},
        "deployed",
    )
    assert ApiGateway.objects.get(api_name="bare").target_base_endpoint == ""
    routes = {r.route_key: r for r in GatewayRoute.objects.all()}
    assert set(routes) == {"chat", "report"}
    assert routes["chat"].integration_url == "" and routes["chat"].route_id == "r1"
    assert routes["chat"].deployed is True
    assert routes["report"].integration_url == "https://api.x.com/r"
    alice.refresh_from_db()
    assert alice.has_perm("ws_routes.view_gatewayroute")
    assert (
        Group.objects.get(name="editors")
        .permissions.filter(codename="change_apigateway", content_type__app_label="ws_routes")
        .exists()
    )
    assert "'staff': ChannelRule.staff_only()," in out
    assert "'vip': ChannelRule.permissions(['auth.add_user'])," in out

    again = run()
    assert "Copied 0 item(s)" in again
    assert "gateway 'chat': already present" in again
    assert ApiGateway.objects.count() == 2 and GatewayRoute.objects.count() == 2


def test_an_existing_gateway_of_ours_is_left_as_it_is(reference_rows):
    ApiGateway.objects.create(api_name="chat", api_id="mine", target_base_endpoint="https://a.b/")
    run()
    assert ApiGateway.objects.get(api_name="chat").api_id == "mine"
    assert GatewayRoute.objects.filter(api_gateway__api_name="chat").count() == 2


def test_rows_we_cannot_hold_are_skipped_with_the_reason(reference_tables):
    ref.ApiGateway.objects.create(api_name="x" * 200)  # ours holds 128
    ref.ApiGateway.objects.create(api_name="ok", target_base_endpoint="not a url")
    out = run()
    assert out.count("skipped gateway") == 2
    assert "api_name" in out and "target_base_endpoint" in out
    assert ApiGateway.objects.count() == 0


def test_without_reference_tables_it_only_copies_grants(alice):
    alice.user_permissions.add(reference_permission("websocketsession", "view_websocketsession"))
    out = run()
    assert "no table django_aws_api_gateway_websockets_apigateway" in out
    assert "copied grant ws_routes.view_websocketsession to user alice" in out


def test_concurrent_imports_copy_each_row_once(reference_rows):
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            import_reference_data()
        except BaseException as error:  # an IntegrityError loses nothing: one transaction
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert ApiGateway.objects.filter(api_name="chat").count() == 1
    assert GatewayRoute.objects.count() == 2
    assert len(errors) < 3
