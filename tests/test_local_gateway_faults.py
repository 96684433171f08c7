"""``--management-faults``: the local gateway's @connections answering 500, 429 or hanging."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import yarl
from django.core.management import CommandError, call_command

from tests.e2e.support import run
from tests.test_local_gateway import LOCAL_CREDENTIALS, SECRET, backend, client, sign, whoami
from ws_routes.local_gateway import LocalGateway
from ws_routes.local_gateway.faults import ManagementFaults

__all__ = ["backend"]  # the fixture, imported for its name


def post_status(gateway: LocalGateway, connection_id: str, data: bytes) -> tuple[int, str]:
    async def scenario() -> tuple[int, str]:
        url = f"{gateway.management_endpoint}/@connections/{connection_id}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                yarl.URL(url, encoded=True), data=data, headers=sign("POST", url, data)
            ) as response,
        ):
            return response.status, response.headers.get("x-amzn-ErrorType", "")

    return run(scenario())


def post_through(backend, faults: ManagementFaults, data: bytes, wait: float = 0.3):
    """One signed POST to an open socket's @connections with ``faults`` injected: its status,
    error type, how long it took, and the frame the socket got (``None``: nothing delivered)."""
    gateway = LocalGateway(
        backend.url,
        secret=SECRET,
        management_credentials=LOCAL_CREDENTIALS,
        management_faults=faults,
    ).start()
    try:

        async def scenario():
            async with client(gateway) as ws:
                connection_id = await whoami(ws)
                began = time.monotonic()
                status, error = await asyncio.to_thread(post_status, gateway, connection_id, data)
                took = time.monotonic() - began
                try:
                    frame = await ws.receive_str(timeout=wait)
                except asyncio.TimeoutError:
                    frame = None
                return status, error, took, frame

        return run(scenario())
    finally:
        gateway.stop()


ERROR_TYPES = {"500": "InternalServerErrorException", "429": "LimitExceededException"}


@pytest.mark.parametrize("fault", ["500", "429"])
def test_every_post_fails_as_asked_and_nothing_is_delivered(backend, fault):
    faults = ManagementFaults.parse(json.dumps({fault: 1.0}))
    status, error, _, frame = post_through(backend, faults, b"x")
    assert status == int(fault)
    assert error == ERROR_TYPES[fault]
    assert frame is None  # not delivered


def test_a_hung_post_is_held_then_answered_504_undelivered(backend):
    faults = ManagementFaults(hang_share=1.0, hang_seconds=0.5)
    status, _, took, frame = post_through(backend, faults, b"x")
    assert status == 504 and took >= 0.45
    assert frame is None


def test_outside_the_window_posts_are_delivered(backend):
    faults = ManagementFaults(error_share=1.0, after=0.0, duration=0.0)
    status, _, _, frame = post_through(backend, faults, b"hi", wait=5)
    assert status == 200
    assert frame == "hi"


def test_shares_split_the_unit_interval():
    faults = ManagementFaults(error_share=0.1, throttle_share=0.2, hang_share=0.3)
    assert [faults.draw(roll) for roll in (0.0, 0.09, 0.1, 0.29, 0.31, 0.59, 0.6, 0.99)] == [
        "500",
        "500",
        "429",
        "429",
        "hang",
        "hang",
        None,
        None,
    ]
    window = ManagementFaults(error_share=1.0, after=10, duration=5, started=100.0)
    assert [window.active(now) for now in (100, 109.9, 110, 114.9, 115)] == [
        False,
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "JSON object"),
        ("[1]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ("[" * 100_000, "JSON object"),
        ('{"503": 0.1}', "unknown fault '503'"),
        ('{"500": "0.1"}', "must be numbers"),
        ('{"500": true}', "must be numbers"),
        ('{"500": -0.1}', ">= 0"),
        ('{"500": 1e400}', "finite"),
        ('{"500": 0.6, "429": 0.6}', "at most 1"),
        ('{"500": 2}', "0..1"),
        ('{"hang": 0.1, "hang_seconds": 1e9}', "at most 120"),
        ('{"500": 0.1, "for": "soon"}', "'for'"),
        ('{"500": 0.1, "for": -1}', "'for'"),
    ],
)
def test_bad_fault_specs_are_refused_with_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ManagementFaults.parse(text)


def test_the_command_refuses_a_bad_spec_before_starting():
    with pytest.raises(CommandError, match="unknown fault"):
        call_command("runwsgateway", "--port", "0", "--management-faults", '{"418": 1}')
