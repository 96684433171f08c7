"""The sender's HTTP/1.1 client against scripted loopback servers: framing, reuse, failures."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import pytest

from ws_routes.sending import http1
from ws_routes.sending.http1 import ConnectionPools, HttpError

REQUEST = b"POST /@connections/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


class Server:
    """Accepts connections; ``answers`` are written in turn, one per request read."""

    def __init__(self, *answers: bytes | None, close_after: bool = False, trickle: bool = False):
        self.answers = list(answers)
        self.close_after = close_after
        self.trickle = trickle
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer = self.answers.pop(0)
                if answer is None:  # never answer
                    await asyncio.sleep(10)
                    return
                if self.trickle:
                    for byte in answer:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(0)
                else:
                    writer.write(answer)
                    await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


async def request(pools: ConnectionPools, port: int, timeout: float = 2.0):
    return await pools.request("http", "127.0.0.1", port, REQUEST, timeout)


def test_content_length_body_and_keep_alive_reuse():
    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        async with Server(ok, ok, ok) as server:
            pools = ConnectionPools()
            answers = [await request(pools, server.port) for _ in range(3)]
            pools.close()
            return answers, server.connections, server.requests

    answers, connections, requests = run(scenario())
    assert answers == [(200, b"hello")] * 3
    assert connections == 1
    assert requests == [REQUEST] * 3


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "byte-by-byte"])
def test_chunked_body_with_extensions_and_trailers(trickle):
    chunked = (
        b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    plain = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

    async def scenario():
        async with Server(chunked, plain, trickle=trickle) as server:
            pools = ConnectionPools()
            answers = [await request(pools, server.port) for _ in range(2)]
            pools.close()
            return answers, server.connections

    answers, connections = run(scenario())
    assert answers == [(410, b"hello world"), (200, b"")]
    assert connections == 1


def test_connection_close_is_honoured():
    async def scenario():
        answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        async with Server(answer, close_after=True) as server:
            server2_answers = [answer]
            pools = ConnectionPools()
            first = await request(pools, server.port)
            server.answers = server2_answers
            second = await request(pools, server.port)
            pools.close()
            return first, second, server.connections

    first, second, connections = run(scenario())
    assert first == second == (200, b"")
    assert connections == 2


def test_http10_body_read_until_close_and_not_reused():
    async def scenario():
        answer = b"HTTP/1.0 500 Oops\r\n\r\nall of this"
        async with Server(answer, close_after=True) as server:
            pools = ConnectionPools()
            result = await request(pools, server.port)
            pools.close()
            return result

    assert run(scenario()) == (500, b"all of this")


def test_interim_100_and_204_without_body():
    async def scenario():
        answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        async with Server(answer, ok) as server:
            pools = ConnectionPools()
            results = [await request(pools, server.port) for _ in range(2)]
            pools.close()
            return results, server.connections

    results, connections = run(scenario())
    assert results == [(204, b""), (200, b"")]
    assert connections == 1


def test_stale_keep_alive_connection_is_replaced_transparently():
    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        # The server keeps the connection open after answering, then drops it while idle.
        async with Server(ok) as server:
            pools = ConnectionPools()
            first = await request(pools, server.port)
            await asyncio.sleep(0.05)  # the handler has no answers left: it closes
            server.answers = [ok]
            second = await request(pools, server.port)
            pools.close()
            return first, second, server.connections

    first, second, connections = run(scenario())
    assert first == second == (200, b"")
    assert connections == 2


def test_idle_connections_expire(monkeypatch):
    monkeypatch.setattr(http1, "IDLE_SECONDS", 0.0)

    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        async with Server(ok, ok) as server:
            pools = ConnectionPools()
            await request(pools, server.port)
            await asyncio.sleep(0.01)
            server.answers = [ok]
            await request(pools, server.port)
            pools.close()
            return server.connections

    assert run(scenario()) == 2


def test_timeout_closes_the_connection():
    async def scenario():
        async with Server(None) as server:
            pools = ConnectionPools()
            with pytest.raises(TimeoutError):
                await request(pools, server.port, timeout=0.1)
            pools.close()
            return pools._idle

    assert run(scenario()) == {}


@pytest.mark.parametrize(
    "answer, message",
    [
        (b"NOT HTTP\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "too large"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "malformed chunk"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 * 1024) + b"\r\n\r\n", "head too large"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed before"),
    ],
    ids=[
        "not-http",
        "status",
        "negative-length",
        "huge-length",
        "chunk-size",
        "chunk-crlf",
        "huge-head",
        "truncated",
    ],
)
def test_malformed_or_hostile_answers_raise(answer, message):
    async def scenario():
        async with Server(answer, close_after=True) as server:
            pools = ConnectionPools()
            with pytest.raises(HttpError, match=message):
                await request(pools, server.port)
            pools.close()

    run(scenario())


def test_huge_chunked_body_is_refused(monkeypatch):
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 10)

    async def scenario():
        answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + b"x" * 32
        async with Server(answer, close_after=True) as server:
            pools = ConnectionPools()
            with pytest.raises(HttpError, match="too large"):
                await request(pools, server.port)

    run(scenario())


def test_unsolicited_bytes_retire_the_connection():
    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        async with Server(ok + b"HTTP/1.1 200 OK\r\n\r\n", ok) as server:
            pools = ConnectionPools()
            first = await request(pools, server.port)
            second = await request(pools, server.port)
            pools.close()
            return first, second, server.connections

    first, second, connections = run(scenario())
    assert first == second == (200, b"")
    assert connections == 2


def test_refused_connection_raises_http_error():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        with pytest.raises(HttpError, match="cannot connect"):
            await request(ConnectionPools(), port)

    run(scenario())


def test_concurrent_requests_use_separate_connections():
    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        async with Server(*[ok] * 10) as server:
            pools = ConnectionPools()
            results = await asyncio.gather(*(request(pools, server.port) for _ in range(5)))
            pools.close()
            return results, server.connections

    results, connections = run(scenario())
    assert results == [(200, b"")] * 5
    assert connections == 5


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_certificate_verification(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def scenario():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        server = Server(ok)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_context)
        port = listener.sockets[0].getsockname()[1]
        try:
            trusting = ConnectionPools(ssl.create_default_context(cafile=str(cert)))
            answer = await trusting.request("https", "localhost", port, REQUEST, 5)
            trusting.close()
            with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
                await ConnectionPools().request("https", "localhost", port, REQUEST, 5)
            return answer
        finally:
            listener.close()

    assert run(scenario()) == (200, b"ok")
