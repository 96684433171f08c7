"""``WsTestClient``: test your handlers in-process, through the real view, without AWS.

Example (pytest-django)::

    from ws_routes.testing import WsTestClient

    def test_chat(db, django_user_model):
        alice = django_user_model.objects.create_user("alice")
        with WsTestClient() as ws:                       # the default router
            conn = ws.connect(user=alice, channel="lobby")
            reply = conn.send("chat.send", {"text": "hi"})
            assert reply.data == {"ok": True}
            assert conn.pushed == [{"from": "alice", "text": "hi"}]
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple
from unittest import mock
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import override_settings

from .conf import ws_setting
from .contract import CONNECT, DISCONNECT, SOURCE_IP_HEADER, event_headers, meta_key
from .routing import Router
from .routing import router as default_router
from .typed import CHECK_REPLIES_ATTRIBUTE, REPLY_PROBLEMS_ATTRIBUTE

#: Used only inside WsTestClient calls when the project configures no secret.
TEST_SECRET = "ws-routes-testing-secret-not-for-production"
_connection_ids = itertools.count(1)


class ContractViolation(AssertionError):
    """A reply broke its route's ``reply_schema``, or a push is undeclared or invalid."""


class Pushed(NamedTuple):
    """One message the code under test pushed: ``(connection_id, data)``, also by name."""

    connection_id: str
    data: Any


@dataclass(frozen=True)
class WsReply:
    """The view's answer to one message: what API Gateway would send back to the client."""

    status: int
    body: Any  # the parsed JSON reply, or None for an empty reply

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None

    @property
    def error(self) -> dict[str, Any] | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


class WsConnection:
    """One connected (or refused) socket of a ``WsTestClient``."""

    def __init__(self, client: WsTestClient, connection_id: str, response: HttpResponse) -> None:
        self.client = client
        self.connection_id = connection_id
        self.response = response

    @property
    def accepted(self) -> bool:
        """Whether API Gateway would have opened the socket (a 2xx answer to CONNECT)."""
        return 200 <= self.response.status_code < 300

    def send(
        self, action: str | None, data: dict[str, Any] | None = None, **fields: Any
    ) -> WsReply:
        """Send ``{"action": action, **data, **fields}`` (e.g. ``id=1``) and return the reply."""
        message = dict(data or {})
        message.update(fields)
        if action is not None:
            message[self.client.router.route_selection_key] = action
        return self.send_raw(json.dumps(message).encode())

    def send_raw(self, raw: bytes | str) -> WsReply:
        """Send a frame as-is (malformed JSON, a bare string...) and return the reply."""
        body = raw.encode() if isinstance(raw, str) else raw
        response = self.client.post("MESSAGE", self.connection_id, body)
        return WsReply(
            response.status_code, json.loads(response.content) if response.content else None
        )

    def disconnect(self) -> HttpResponse:
        return self.client.post("DISCONNECT", self.connection_id)

    @property
    def pushed(self) -> list[Any]:
        """Data pushed to this connection so far, oldest first."""
        return [p.data for p in self.client.pushed if p.connection_id == self.connection_id]


class WsTestClient:
    """Drives CONNECT / MESSAGE / DISCONNECT through ``router``'s view with the real headers.

    While a call runs (or for the whole ``with`` block) pushes are captured in ``pushed``
    instead of reaching AWS; each connected recipient counts as delivered. Background sends
    (Celery in eager mode, or at most ``BACKGROUND_INLINE_MAX`` recipients) run through the
    library's shard code and their pushes are captured too; ``broadcasts`` lists their
    ``Broadcast`` records (docs/testing.md).

    The contract is checked: a reply that breaks its route's ``reply_schema`` raises
    ``ContractViolation``, and so does a push that is undeclared or invalid when ``strict``
    (default: when the router declares any push with ``router.message``). ``strict=False``
    checks nothing.
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        api_id: str = "testapi",
        stage: str = "test",
        strict: bool | None = None,
    ) -> None:
        self.router = router if router is not None else default_router
        self.api_id = api_id
        self.stage = stage
        self.strict = strict
        self.pushed: list[Pushed] = []
        #: Every contract violation seen, even one a handler's ``except`` swallowed.
        self.violations: list[str] = []
        self._broadcast_ids: list[Any] = []
        self._factory = RequestFactory()
        self._stack: ExitStack | None = None

    # -- capture -------------------------------------------------------------------------------

    @property
    def checks_pushes(self) -> bool:
        return self.strict if self.strict is not None else len(self.router.messages) > 0

    def _violation(self, text: str) -> ContractViolation:
        self.violations.append(text)
        return ContractViolation(text)

    def _record(self, sessions: Iterable[Any], data: Any) -> Any:
        from .sending import SendResult

        data = _decoded(data)  # a background shard sends the encoded payload
        if self.checks_pushes:
            problems = self.router.messages.problems(data)
            if problems:
                raise self._violation(f"push {data!r:.200} breaks the contract: {problems}")
        delivered = 0
        for session in sessions:
            if session.connected:
                self.pushed.append(Pushed(session.connection_id, data))
                delivered += 1
        return SendResult(delivered=delivered)

    @contextmanager
    def capture(self) -> Iterator[WsTestClient]:
        """Capture pushes (``session.send``, ``queryset.send`` and async forms) in ``pushed``."""

        def send_to_sessions(sessions: Iterable[Any], data: Any, **_: Any) -> Any:
            return self._record(sessions, data)

        def send_to_queryset(queryset: Any, data: Any, **_: Any) -> Any:
            return self._record(_connected(queryset), data)

        def send_with_checkpoints(queryset: Any, data: Any, **_: Any) -> Any:
            return self._record(_connected(queryset), data)  # captured whole: no checkpoints

        async def asend_to_sessions(sessions: Iterable[Any], data: Any, **_: Any) -> Any:
            return self._record(sessions, data)

        async def asend_to_queryset(queryset: Any, data: Any, **_: Any) -> Any:
            query = queryset.query
            if query.is_sliced or query.combinator:  # cannot be filtered: read as it is
                return self._record([s async for s in queryset if s.connected], data)
            return self._record([s async for s in queryset.filter(connected=True)], data)

        with (
            mock.patch.multiple(
                "ws_routes.sending",
                send_to_sessions=send_to_sessions,
                send_to_queryset=send_to_queryset,
                send_with_checkpoints=send_with_checkpoints,
                asend_to_sessions=asend_to_sessions,
                asend_to_queryset=asend_to_queryset,
            ),
            self._watch_broadcasts(),
        ):
            yield self

    # -- background sends ----------------------------------------------------------------------

    @property
    def broadcasts(self) -> list[Any]:
        """The ``Broadcast`` records of the background sends made while capturing, oldest
        first, read again from the database (their counts as they are now)::

            [broadcast] = ws.broadcasts
            assert (broadcast.state, broadcast.delivered) == ("finished", 5)
        """
        from .models import Broadcast

        return list(Broadcast.objects.filter(pk__in=self._broadcast_ids).order_by("pk"))

    @contextmanager
    def _watch_broadcasts(self) -> Iterator[None]:
        from django.db.models.signals import post_save

        from .models import Broadcast

        def created(sender: Any, instance: Any, created: bool, **_: Any) -> None:
            if created and instance.pk not in self._broadcast_ids:
                self._broadcast_ids.append(instance.pk)

        post_save.connect(created, sender=Broadcast, weak=False)
        try:
            yield
        finally:
            post_save.disconnect(created, sender=Broadcast)

    def __enter__(self) -> WsTestClient:
        self._stack = ExitStack()
        self._stack.enter_context(self.capture())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    # -- events --------------------------------------------------------------------------------

    def connect(
        self,
        user: Any = None,
        *,
        channel: str | None = None,
        token: str | None = None,
        origin: str | None = None,
        connection_id: str | None = None,
        source_ip: str = "127.0.0.1",
    ) -> WsConnection:
        """Open a connection as ``user`` (as if by session cookie) or with a one-time ``token``."""
        connection_id = connection_id or f"TestConn{next(_connection_ids):08d}="
        query = {}
        if channel is not None:
            query[ws_setting("CHANNEL_QUERY_PARAM")] = channel
        if token is not None:
            query[ws_setting("TOKEN_QUERY_PARAM")] = token
        extra = {meta_key(SOURCE_IP_HEADER): source_ip}
        if origin is not None:
            extra["HTTP_ORIGIN"] = origin
        response = self.post(
            "CONNECT", connection_id, b"", query=urlencode(query), user=user, extra=extra
        )
        return WsConnection(self, connection_id, response)

    def post(
        self,
        event: str,
        connection_id: str,
        body: bytes = b"",
        *,
        query: str = "",
        user: Any = None,
        extra: dict[str, str] | None = None,
    ) -> HttpResponse:
        """POST one event to the view exactly as API Gateway's integration would."""
        secrets = ws_setting("GATEWAY_SECRETS")
        headers = event_headers(
            secret=secrets[0] if secrets else TEST_SECRET,
            connection_id=connection_id,
            event=event,
            route={CONNECT: "$connect", DISCONNECT: "$disconnect"}.get(event, "$default"),
            source_ip="127.0.0.1",
            request_id=f"test-{next(_connection_ids)}",
            api_id=self.api_id,
            stage=self.stage,
        )
        meta: dict[str, Any] = {meta_key(name): value for name, value in headers.items()}
        meta.update(extra or {})
        path = "/" + (f"?{query}" if query else "")
        request = self._factory.post(path, body, content_type="application/json", **meta)
        request.user = user if user is not None else AnonymousUser()
        setattr(request, CHECK_REPLIES_ATTRIBUTE, self.strict is not False)
        seen = len(self.violations)
        with ExitStack() as stack:
            if not secrets:  # a project without secrets yet: test with a throwaway one
                configured = getattr(settings, "WS_ROUTES", None) or {}
                stack.enter_context(
                    override_settings(WS_ROUTES={**configured, "GATEWAY_SECRETS": [TEST_SECRET]})
                )
            if self._stack is None:
                stack.enter_context(self.capture())
            response = self.router.view(request)
        problems = getattr(request, REPLY_PROBLEMS_ATTRIBUTE, None)
        if problems and self.strict is not False:
            raise self._violation(f"the reply to {body[:200]!r} breaks reply_schema: {problems}")
        if len(self.violations) > seen:  # raised inside the view, answered as a 500: say why
            raise ContractViolation(self.violations[seen])
        return response


def _connected(queryset: Any) -> list[Any]:
    """The connected sessions of ``queryset``; a sliced or combined one (``qs[:10]``) cannot
    be filtered, so it is read as it is and filtered here, as the real sender does."""
    query = queryset.query
    if query.is_sliced or query.combinator:
        return [session for session in queryset if session.connected]
    return list(queryset.filter(connected=True).order_by("pk"))


def _decoded(data: Any) -> Any:
    """What a client would parse: the encoded bytes of a background send, as JSON data."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            return json.loads(bytes(data))
        except ValueError:
            return bytes(data)
    return data
