"""Issue 10 item 9: a one-time token never reaches a log line.

The local gateway's own warnings (Django unreachable, slow, redirecting) used to print the
integration URL with the handshake's query string; runserver's access lines print the request
line, which ``ws_routes.log_filters.RedactConnectTokens`` redacts.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.e2e.support import Reply, StubBackend, echo, run
from ws_routes.local_gateway import LocalGateway
from ws_routes.log_filters import RedactConnectTokens, redact_tokens

SECRET = "gateway-test-secret-0123456789abcdef"
TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbi12YWx1ZS0xMjM0NTY"


async def try_connect(gateway: LocalGateway) -> None:
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(f"{gateway.url}/?token={TOKEN}&channel=lobby")
        except aiohttp.WSServerHandshakeError:
            return
        await ws.close()


def gateway_log(caplog) -> str:
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("ws_routes.local_gateway")
    )


def test_unreachable_django_is_logged_without_the_token(caplog):
    with (
        caplog.at_level(logging.DEBUG, logger="ws_routes.local_gateway"),
        LocalGateway("http://127.0.0.1:9/ws/", secret=SECRET, port=0) as gateway,
    ):
        run(try_connect(gateway))
    text = gateway_log(caplog)
    assert "unreachable" in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    "reply, expected",
    [
        (Reply(status=302, headers={"Location": "/elsewhere/"}), "redirect"),
        (Reply(delay=1.0), "timed out"),
    ],
)
def test_redirects_and_timeouts_are_logged_without_the_token(caplog, reply, expected):
    backend = StubBackend().start()

    async def respond(event):
        return reply if event.event == "CONNECT" else echo(event)

    backend.respond = respond
    try:
        with (
            caplog.at_level(logging.DEBUG, logger="ws_routes.local_gateway"),
            LocalGateway(backend.url, secret=SECRET, port=0, integration_timeout=0.3) as gateway,
        ):
            run(try_connect(gateway))
            run(asyncio.sleep(0.1))
    finally:
        backend.stop()
    text = gateway_log(caplog)
    assert expected in text
    assert TOKEN not in text


def test_runserver_access_lines_can_be_redacted(settings):
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"POST /ws/?channel=x&token={TOKEN} HTTP/1.1", "200", "0"),
        None,
    )
    assert RedactConnectTokens().filter(record) is True
    assert TOKEN not in record.getMessage()
    assert "token=[redacted]" in record.getMessage() and "channel=x" in record.getMessage()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_QUERY_PARAM": "t"}
    other = logging.LogRecord("x", logging.INFO, __file__, 1, f"GET /?t={TOKEN}", None, None)
    RedactConnectTokens().filter(other)
    assert TOKEN not in other.getMessage()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/ws/?token=abc", "/ws/?token=[redacted]"),
        ("/ws/?a=1&token=abc&b=2", "/ws/?a=1&token=[redacted]&b=2"),
        ("/ws/?mytoken=abc", "/ws/?mytoken=abc"),
        ("no query", "no query"),
        ('"POST /ws/?token=a%20b HTTP/1.1"', '"POST /ws/?token=[redacted] HTTP/1.1"'),
    ],
)
def test_redact_tokens(text, expected):
    assert redact_tokens(text) == expected
