"""Issue 10 item 14: the sender's HTTP/1.1 client parses responses strictly (RFC 9112).

Ambiguous or malformed framing is an ``HttpError`` and closes the connection, so a stray body
can never become the answer to the next post on a reused connection.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.test_http1 import REQUEST, Server, request, run
from ws_routes.sending.http1 import ConnectionPools, HttpError

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            "ambiguous",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
            "ambiguous",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\nab\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n \r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n", "chunk"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "Transfer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "Transfer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "Transfer"),
        (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0"),
        (b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line"),
        (b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 099 OK\r\n\r\n", "status line"),
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1  200 OK\r\n\r\n", "status line"),
    ],
)
def test_ambiguous_or_malformed_framing_is_an_http_error(answer, message):
    async def scenario():
        async with Server(answer, OK) as server:
            pools = ConnectionPools()
            with pytest.raises(HttpError, match=message):
                await request(pools, server.port)
            # The connection was closed, never reused: the next post gets its own answer.
            after = await request(pools, server.port)
            pools.close()
            return after, server.connections

    after, connections = run(scenario())
    assert after == (200, b"")
    assert connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3 ;ext=1\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nabc",
    ],
)
def test_strict_still_reads_what_rfc_9112_allows(answer):
    async def scenario():
        async with Server(answer, OK) as server:
            pools = ConnectionPools()
            first = await request(pools, server.port)
            second = await request(pools, server.port)
            pools.close()
            return first, second, server.connections

    first, second, connections = run(scenario())
    assert first == (200, b"abc") and second == (200, b"")
    assert connections == 1


def test_a_smuggled_response_never_answers_the_next_post():
    """The server frames a body two ways, then sends a stray 410 later: before, the reused
    connection took that 410 as the answer to the next post (a live session marked gone)."""
    smuggling = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
    stray = b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n"
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r")[0]))
                if first:
                    writer.write(smuggling)
                    await writer.drain()
                    await reader.readuntil(b"\r\n\r\n")  # the next post arrives...
                    writer.write(stray)  # ... and gets the stray bytes
                    await writer.drain()
                    first = False
                else:
                    writer.write(OK)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pools = ConnectionPools()
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(await pools.request("http", "127.0.0.1", port, REQUEST, 2.0))
            except HttpError as error:
                outcomes.append(type(error).__name__)
        pools.close()
        server.close()
        return outcomes

    outcomes = run(scenario())
    assert outcomes == ["HttpError", (200, b"")]
    assert (410, b"") not in outcomes
