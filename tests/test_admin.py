"""contrib_admin with Django's test client as a staff user; AWS is moto.

The sender is someone else's module: Send message and Disconnect are tested with
``WebSocketSessionQuerySet.send`` and ``ws_routes.sending.disconnect_sessions`` patched (this
tests the admin, not the sender). moto gaps are filled by tests.deploy_support.RecordingClient.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from tests.deploy_support import add_handler_route
from ws_routes import sending
from ws_routes.checks import SECRET_PATTERN
from ws_routes.gateway_endpoints import GatewayEndpoints
from ws_routes.models import ApiGateway, GatewayRoute, WebSocketSession, WebSocketSessionQuerySet

pytest_plugins = ["tests.deploy_fixtures"]

GATEWAYS = "/admin/ws_routes/apigateway/"
SESSIONS = "/admin/ws_routes/websocketsession/"


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss")
    client.force_login(user)
    return client


def action(client, url, name, pks, **extra):
    data = {"action": name, "_selected_action": [str(pk) for pk in pks], **extra}
    return client.post(url, data)


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def gateway_form(gateway, **changes):
    data = {
        "api_name": gateway.api_name,
        "api_description": gateway.api_description,
        "target_base_endpoint": gateway.target_base_endpoint,
        "region": gateway.region,
        "stage_name": gateway.stage_name,
        "stage_description": "",
        "route_selection_expression": gateway.route_selection_expression,
        "api_key_selection_expression": gateway.api_key_selection_expression,
        "default_channel_name": "",
        "domain_name": gateway.domain_name,
        "certificate_arn": gateway.certificate_arn,
        "hosted_zone_id": "",
        "tags": "{}",
        "routes-TOTAL_FORMS": "0",
        "routes-INITIAL_FORMS": "0",
        "routes-MIN_NUM_FORMS": "0",
        "routes-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


# -- gateways -------------------------------------------------------------------------------


def test_gateway_pages_render_and_aws_fields_are_read_only(staff, ws_gateway):
    assert staff.get(GATEWAYS).status_code == 200
    url = f"{GATEWAYS}{ws_gateway.pk}/change/"
    page = staff.get(url)
    assert page.status_code == 200
    assert 'name="api_id"' not in page.content.decode()
    assert 'name="api_name"' in page.content.decode()

    response = staff.post(
        url, gateway_form(ws_gateway, api_id="forged", deployment_id="forged", api_created="on")
    )
    assert response.status_code == 302
    ws_gateway.refresh_from_db()
    assert (ws_gateway.api_id, ws_gateway.deployment_id, ws_gateway.api_created) == ("", "", False)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("stage_name", "prod stage", "A-Z a-z 0-9"),
        ("route_selection_expression", "$request.header.x", "$request.body"),
        ("tags", '{"k": 1}', "string value"),
        ("tags", '["not", "an", "object"]', "object"),
        ("tags", json.dumps({f"k{i}": "v" for i in range(51)}), "at most 50"),
        ("tags", "{not json", "Enter a valid JSON"),
    ],
)
def test_gateway_form_refuses_bad_values(staff, ws_gateway, field, value, error):
    response = staff.post(
        f"{GATEWAYS}{ws_gateway.pk}/change/", gateway_form(ws_gateway, **{field: value})
    )
    assert response.status_code == 200
    assert error in response.content.decode()


def test_gateway_route_inline_validates_the_key(staff, ws_gateway):
    url = f"{GATEWAYS}{ws_gateway.pk}/change/"
    bad = gateway_form(
        ws_gateway,
        **{
            "routes-TOTAL_FORMS": "1",
            "routes-0-route_key": "$connect",
            "routes-0-integration_url": "",
        },
    )
    response = staff.post(url, bad)
    assert response.status_code == 200
    assert "not starting with" in response.content.decode()
    assert not GatewayRoute.objects.exists()

    good = gateway_form(
        ws_gateway,
        **{
            "routes-TOTAL_FORMS": "1",
            "routes-0-route_key": "legacy.notify",
            "routes-0-integration_url": "https://legacy.example.com/ws/",
        },
    )
    assert staff.post(url, good).status_code == 302
    assert GatewayRoute.objects.get().route_key == "legacy.notify"


def test_sync_routes_shows_the_plan_then_applies_it(staff, ws_gateway, aws):
    preview = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0")
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "+ route chat.send" in page and "+ route response chat.send $default" in page
    assert aws.mutating_calls == []
    digest = re.search(rf'name="digest-{ws_gateway.pk}" value="([0-9a-f]+)"', page).group(1)

    confirm = action(
        staff,
        GATEWAYS,
        "sync_routes",
        [ws_gateway.pk],
        confirm="yes",
        prune="1",
        **{f"digest-{ws_gateway.pk}": digest},
    )
    assert confirm.status_code == 302
    ws_gateway.refresh_from_db()
    [deployment] = aws.deployments[ws_gateway.api_id]
    deployment_id = deployment["DeploymentId"]
    assert any(
        "applied" in text and f"deployment {deployment_id}" in text for text in texts(confirm)
    )
    assert ws_gateway.api_id and ws_gateway.deployment_id == deployment_id

    again = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0")
    assert "In sync: nothing to do." in again.content.decode()
    assert "Apply and deploy" not in again.content.decode()


def test_sync_routes_refuses_a_plan_that_changed_since_it_was_shown(
    staff, ws_gateway, aws, ws_router
):
    page = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0").content.decode()
    digest = re.search(r'name="digest-\d+" value="([0-9a-f]+)"', page).group(1)
    add_handler_route(ws_router, "sneaked.in")
    confirm = action(
        staff,
        GATEWAYS,
        "sync_routes",
        [ws_gateway.pk],
        confirm="yes",
        **{f"digest-{ws_gateway.pk}": digest},
    )
    assert any("changed since it was shown" in text for text in texts(confirm))
    assert aws.mutating_calls == []


def test_sync_routes_without_a_digest_or_with_a_forged_one_applies_nothing(staff, ws_gateway, aws):
    confirm = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], confirm="yes")
    assert any("not synced" in text for text in texts(confirm))
    forged = action(
        staff,
        GATEWAYS,
        "sync_routes",
        [ws_gateway.pk],
        confirm="yes",
        **{f"digest-{ws_gateway.pk}": "0" * 64},
    )
    assert any("changed since it was shown" in text for text in texts(forged))
    assert aws.mutating_calls == []


def test_sync_routes_preview_with_and_without_pruning(staff, ws_gateway, aws):
    action(staff, GATEWAYS, "create_gateway", [ws_gateway.pk], index="0")
    ws_gateway.refresh_from_db()
    target = f"integrations/{ws_gateway.integration_id}"  # AWS refuses a missing integration
    aws.create_route(ApiId=ws_gateway.api_id, RouteKey="stale", Target=target)
    pruning = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0").content.decode()
    assert "- route stale" in pruning
    keeping = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], prune="0").content.decode()
    assert "- route stale" not in keeping and "route stale is not in the registry" in keeping


def test_sync_routes_preview_shows_configuration_errors(staff, ws_gateway, aws):
    ws_gateway.target_base_endpoint = "https://www.example.com/nowhere/"
    ws_gateway.save()
    page = action(staff, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0").content.decode()
    assert "no URL pattern matches" in page
    assert "Apply and deploy" not in page


def test_create_gateway_and_custom_domain_actions(staff, ws_gateway, aws_moto):
    created = action(staff, GATEWAYS, "create_gateway", [ws_gateway.pk], index="0")
    assert any("applied" in text for text in texts(created))
    domain = action(staff, GATEWAYS, "create_custom_domain", [ws_gateway.pk], index="0")
    ws_gateway.refresh_from_db()
    assert ws_gateway.api_gateway_domain_name
    assert any("+ api mapping ws.example.com" in text for text in texts(domain))

    aws_moto.fail_when("create_deployment", message="Deployments throttled")
    ws_gateway.api_description = "changed"
    ws_gateway.save()
    failed = action(staff, GATEWAYS, "create_gateway", [ws_gateway.pk], index="0")
    assert any("create_deployment" in t and "Deployments throttled" in t for t in texts(failed))
    page = staff.get(f"{GATEWAYS}{ws_gateway.pk}/change/").content.decode()
    assert "Deployments throttled" in page  # last_error is shown, read-only


def test_rotate_secret_shows_a_new_strong_secret_and_stores_none(staff, ws_gateway):
    first = action(staff, GATEWAYS, "rotate_secret", [ws_gateway.pk], index="0")
    assert first.status_code == 200
    assert "no-store" in first["Cache-Control"]
    page = first.content.decode()
    secret = re.search(
        r'id="ws-new-secret" type="text" readonly size="70" value="([^"]+)"', page
    ).group(1)
    assert SECRET_PATTERN.fullmatch(secret) and len(secret) >= 64
    assert "GATEWAY_SECRETS" in page and "Sync routes" in page
    second = action(staff, GATEWAYS, "rotate_secret", [ws_gateway.pk], index="0")
    assert secret not in second.content.decode()
    for gateway in ApiGateway.objects.values():
        assert secret not in json.dumps(gateway, default=str)
    assert not LogEntry.objects.filter(change_message__contains=secret).exists()


def test_actions_need_staff_and_change_permission(client, ws_gateway, aws, django_user_model):
    anonymous = action(client, GATEWAYS, "sync_routes", [ws_gateway.pk], index="0")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apigateway"))
    client.force_login(viewer)
    response = action(client, GATEWAYS, "create_gateway", [ws_gateway.pk], index="0")
    assert response.status_code in (200, 302)
    assert aws.calls == []


# -- sessions ------------------------------------------------------------------------------


@pytest.fixture
def sessions(db):
    gateway = ApiGateway.objects.create(api_name="live", api_id="abc123", stage_name="production")
    rows = {
        "lobby1": WebSocketSession.objects.create(
            connection_id="lobby1=", channel_name="lobby", api_id="abc123", stage="production"
        ),
        "lobby2": WebSocketSession.objects.create(
            connection_id="lobby2=", channel_name="lobby", api_id="abc123", stage="production"
        ),
        "gone": WebSocketSession.objects.create(
            connection_id="gone1=",
            channel_name="lobby",
            api_id="abc123",
            stage="production",
            connected=False,
        ),
        "other": WebSocketSession.objects.create(
            connection_id="other1=", channel_name="games", api_id="zzz999", stage="production"
        ),
    }
    rows["gateway"] = gateway
    return rows


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("", {"lobby1=", "lobby2=", "gone1=", "other1="}),
        ("?connected__exact=1", {"lobby1=", "lobby2=", "other1="}),
        ("?connected__exact=0", {"gone1="}),
        ("?channel=lobby", {"lobby1=", "lobby2=", "gone1="}),
        ("?channel=games&connected__exact=1", {"other1="}),
        ("?gateway={pk}", {"lobby1=", "lobby2=", "gone1="}),
        ("?gateway=abc", set()),
        ("?gateway=999999", set()),
        ("?channel=%3Cscript%3Ealert(1)%3C/script%3E", set()),
    ],
)
def test_session_filters(staff, sessions, query, shown):
    response = staff.get(SESSIONS + query.format(pk=sessions["gateway"].pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    listed = {cid for cid in ("lobby1=", "lobby2=", "gone1=", "other1=") if f">{cid}<" in page}
    assert listed == shown


def test_sessions_are_read_only(staff, sessions):
    assert staff.get(SESSIONS + "add/").status_code == 403
    url = f"{SESSIONS}{sessions['lobby1'].pk}/change/"
    assert 'name="channel_name"' not in staff.get(url).content.decode()


@pytest.fixture
def sent(monkeypatch):
    calls = []

    def fake_send(queryset, data, *, on_commit=False):
        calls.append((sorted(queryset.values_list("connection_id", flat=True)), data))
        return sending.SendResult(delivered=2, gone=1, failed=0)

    monkeypatch.setattr(WebSocketSessionQuerySet, "send", fake_send)
    return calls


def test_send_message_form_then_send(staff, sessions, sent):
    pks = [sessions["lobby1"].pk, sessions["lobby2"].pk]
    form = action(staff, SESSIONS, "send_message", pks, index="0")
    assert form.status_code == 200
    assert "2 connected sessions" in form.content.decode()
    assert sent == []

    message = {"type": "notice", "text": "Maintenance at 18:00 — ünïcode"}
    done = action(staff, SESSIONS, "send_message", pks, send="Send", message=json.dumps(message))
    assert done.status_code == 302
    assert sent == [(["lobby1=", "lobby2="], message)]
    assert texts(done) == ["Message sent: 2 delivered, 1 gone (now marked disconnected), 0 failed."]


def test_send_message_to_a_filtered_select_all(staff, sessions, sent):
    action(
        staff,
        SESSIONS + "?channel=lobby",
        "send_message",
        [sessions["lobby1"].pk],
        send="Send",
        message='"hello"',
        select_across="1",
    )
    assert sent == [(["gone1=", "lobby1=", "lobby2="], "hello")]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("{not json", "Not valid JSON"),
        ("NaN", "Not valid JSON"),
        ('{"a": Infinity}', "Not valid JSON"),
        ('{"a": 1e400}', "Not valid JSON"),  # issue 10: parsed to infinity, sent as Infinity
        ("[-1E999]", "Not valid JSON"),
        ("", "This field is required"),
        ('"' + "x" * (128 * 1024) + '"', "larger than 128 KB"),
        ("[" * 100_000 + "]" * 100_000, "larger than 128 KB"),
        ("[" * 20_000 + "]" * 20_000, "Not valid JSON"),
        ("[" * 100 + "]" * 100, "Nested deeper than 64"),
        ('"\\ud800"', "lone UTF-16 surrogate"),
    ],
)
def test_send_message_refuses_bad_input(staff, sessions, sent, message, error):
    response = action(
        staff, SESSIONS, "send_message", [sessions["lobby1"].pk], send="Send", message=message
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert sent == []


def test_send_message_failure_is_shown_not_raised(staff, sessions, monkeypatch):
    def broken(queryset, data, *, on_commit=False):
        raise ConnectionError("endpoint unreachable")

    monkeypatch.setattr(WebSocketSessionQuerySet, "send", broken)
    response = action(
        staff, SESSIONS, "send_message", [sessions["lobby1"].pk], send="Send", message="1"
    )
    assert response.status_code == 302
    assert texts(response) == ["Sending failed: ConnectionError: endpoint unreachable"]


def test_disconnect_action(staff, sessions, monkeypatch):
    calls = []

    def fake_disconnect(queryset, *, endpoints=None):
        calls.append(sorted(queryset.values_list("connection_id", flat=True)))
        # Each session's own gateway region, as session.send() (issue 9, item 1).
        assert isinstance(endpoints, GatewayEndpoints)
        return len(calls[-1])

    monkeypatch.setattr(sending, "disconnect_sessions", fake_disconnect, raising=False)
    pks = [sessions["lobby1"].pk, sessions["other"].pk]
    response = action(staff, SESSIONS, "disconnect", pks, index="0")
    assert response.status_code == 302
    assert calls == [["lobby1=", "other1="]]
    assert texts(response) == ["2 session(s) disconnected."]

    def broken(queryset, **_):
        raise TimeoutError("read timeout")

    monkeypatch.setattr(sending, "disconnect_sessions", broken, raising=False)
    response = action(staff, SESSIONS, "disconnect", pks, index="0")
    assert texts(response)[-1] == "Disconnect failed: TimeoutError: read timeout"
