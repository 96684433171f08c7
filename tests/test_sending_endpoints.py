"""The endpoint seam of the sender: an injected ``EndpointResolver`` decides where posts go."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from tests.fake_management_api import FakeManagementApi
from tests.test_sending import _configure, aws_environment, lobby, make_sessions  # noqa: F401
from ws_routes.conf import ws_settings
from ws_routes.models import WebSocketSession
from ws_routes.sending import (
    Endpoint,
    SettingsEndpoints,
    asend_to_queryset,
    disconnect_sessions,
    send_to_queryset,
    send_to_sessions,
)

pytestmark = pytest.mark.django_db

# Nothing listens there: a post that used the settings instead of the resolver would fail.
_UNUSED = "http://127.0.0.1:9/{api_id}/{stage}"


class _ByApiId:
    """Endpoints per api_id from a table; unknown ones are refused with a reason."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.calls: list[tuple[str, str]] = []

    def __call__(self, api_id: str, stage: str) -> Endpoint | str:
        self.calls.append((api_id, stage))
        url = self.urls.get(api_id)
        if url is None:
            return f"no gateway {api_id!r}"
        return Endpoint(f"{url}/{api_id}/{stage}", "eu-west-2")


@pytest.fixture
def fake(settings):
    with FakeManagementApi() as fake:
        _configure(settings, MANAGEMENT_ENDPOINT=_UNUSED, SEND_MAX_RETRIES=0, REGION="eu-west-2")
        yield fake


def test_an_injected_resolver_decides_where_posts_go(fake):
    make_sessions("ok-1", "ok-2", api_id="known")
    make_sessions("ok-3", api_id="other")
    resolve = _ByApiId({"known": fake.url})

    result = send_to_queryset(lobby(), {"n": 1}, endpoints=resolve)

    assert (result.delivered, result.gone, result.failed) == (2, 0, 1)
    assert result.failed_ids == ["ok-3"]
    assert sorted(fake.answered(200)) == ["ok-1", "ok-2"]
    assert set(resolve.calls) == {("known", "prod"), ("other", "prod")}
    # A recipient refused by the resolver is failed, not marked gone.
    assert WebSocketSession.objects.get(connection_id="ok-3").connected


def test_a_resolver_reason_is_logged_and_nothing_is_posted(fake, caplog):
    make_sessions("ok-1", "ok-2", api_id="nowhere")

    result = send_to_queryset(lobby(), {"n": 1}, endpoints=_ByApiId({}))

    assert (result.delivered, result.failed) == (0, 2)
    assert fake.answered(200) == []
    assert "no gateway 'nowhere' x2" in caplog.text


def test_a_resolver_that_raises_stops_the_send_with_its_error(fake):
    make_sessions("ok-1")

    def broken(api_id: str, stage: str) -> Endpoint | str:
        raise LookupError("gateway table unavailable")

    with pytest.raises(LookupError, match="gateway table unavailable"):
        send_to_sessions(list(lobby()), {"n": 1}, endpoints=broken)
    assert fake.answered(200) == []
    assert WebSocketSession.objects.get(connection_id="ok-1").connected


def test_async_sends_and_disconnects_use_the_resolver_too(fake):
    make_sessions("ok-1", "gone-1", api_id="known")
    resolve = _ByApiId({"known": fake.url})

    result = async_to_sync(asend_to_queryset)(lobby(), {"n": 1}, endpoints=resolve)
    assert (result.delivered, result.gone) == (1, 1)

    closed = disconnect_sessions(lobby(), endpoints=resolve)
    assert closed == 1
    assert not WebSocketSession.objects.filter(connected=True).exists()


def test_without_a_resolver_the_settings_decide(fake, settings):
    _configure(settings, MANAGEMENT_ENDPOINT=fake.url + "/{api_id}/{stage}")
    make_sessions("ok-1")

    assert send_to_queryset(lobby(), {"n": 1}).delivered == 1
    resolve = SettingsEndpoints(ws_settings())
    assert resolve("abc123", "prod") == Endpoint(fake.url + "/abc123/prod", "eu-west-2")
    assert (
        resolve("a/b", "prod") == "session has no valid API id ('a/b') to build its endpoint from"
    )
