"""A loopback stand-in for API Gateway's management API, fast enough not to be what is measured.

It answers ``200`` (empty body) to every ``POST``/``DELETE .../@connections/{id}`` after an optional
injected latency, over HTTP/1.1 keep-alive, parsing only what it must (request line, headers,
``Content-Length``). Anything else gets 404. It is a bare ``asyncio.Protocol``: one process does
tens of thousands of requests per second, where an aiohttp or Django server would do a few
thousand and become the bottleneck.

Run it alone::

    python bench/endpoint.py --latency-ms 20          # prints "PORT <n>" then serves
    python bench/endpoint.py --capacity 3             # measures its own capacity, prints JSON
    python bench/endpoint.py --quota 3000             # answers 429 above 3,000 requests/s

The benchmark starts it as a subprocess, reads the port, and reads ``GET /count`` (requests
answered, CPU seconds used) before and after each measurement: requests per CPU-second is the
endpoint's capacity on one core, and CPU seconds per wall second is how busy it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Stats:
    requests = 0
    throttled = 0
    ids: set[bytes] = set()


class Quota:
    """An account quota as API Gateway applies it: a token bucket (rate, burst = rate / 2);
    a request beyond it is answered 429. ``rate`` 0: no quota."""

    rate = 0.0
    tokens = 0.0
    stamp = 0.0

    @classmethod
    def allow(cls) -> bool:
        if not cls.rate:
            return True
        now = time.monotonic()
        cls.tokens = min(cls.rate / 2, cls.tokens + (now - cls.stamp) * cls.rate)
        cls.stamp = now
        if cls.tokens >= 1:
            cls.tokens -= 1
            return True
        return False


THROTTLED = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"


class EndpointProtocol(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order, each after ``latency``."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            request_line = head.split(b"\r\n", 1)[0]
            self.buffer = self.buffer[end:]
            self.respond(request_line)

    def respond(self, request_line: bytes) -> None:
        method, _, rest = request_line.partition(b" ")
        path = rest.rpartition(b" ")[0]
        if method == b"GET" and path.startswith(b"/count"):
            body = json.dumps(
                {
                    "requests": Stats.requests,
                    "throttled": Stats.throttled,
                    "unique": len(Stats.ids),
                    "cpu_seconds": time.process_time(),
                }
            ).encode()
            if b"reset" in path:
                Stats.ids = set()
            self.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        if b"/@connections/" not in path:
            self.write(NOT_FOUND)
            return
        Stats.requests += 1
        answer = OK
        if Quota.allow():
            if Quota.rate:
                Stats.ids.add(path.rsplit(b"/", 1)[1])
        else:
            Stats.throttled += 1
            answer = THROTTLED
        if self.latency:
            self.loop.call_later(self.latency, self.write, answer)
        else:
            self.write(answer)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: EndpointProtocol(latency), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    # Stop when the parent closes our stdin (or dies): never outlive the benchmark.
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(0, 1024) else None)
    async with server:
        await stop.wait()


async def _load(port: int, connections: int, seconds: float) -> int:
    """A minimal client: pre-built requests, one in flight per connection, no parsing but
    counting responses. Measures what the endpoint can answer, not what a client can send."""
    request = (
        b"POST /prod/@connections/capacity HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: 16\r\n\r\n" + b'{"bench":"load"}'
    )
    done = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < deadline:
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            done += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done


def stats(port: int) -> dict:
    """The endpoint's ``GET /count``: requests answered and CPU seconds used so far."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/count")
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer


def measure_capacity(seconds: float, latency: float, connections: int) -> dict:
    """Run the endpoint in a child process and load it from this one.

    ``requests_per_second`` is what this (Python) client achieved, a lower bound;
    ``requests_per_cpu_second`` is the endpoint's own cost, i.e. what it can answer with one
    core to itself.
    """
    import subprocess

    child = subprocess.Popen(
        [sys.executable, __file__, "--latency-ms", str(latency * 1000)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(child.stdout.readline().split()[1])
        before = stats(port)
        started = time.perf_counter()
        done = asyncio.run(_load(port, connections, seconds))
        elapsed = time.perf_counter() - started
        after = stats(port)
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    cpu = after["cpu_seconds"] - before["cpu_seconds"]
    return {
        "requests_per_second": round(done / elapsed),
        "requests_per_cpu_second": round((after["requests"] - before["requests"]) / cpu),
        "latency_ms": latency * 1000,
        "connections": connections,
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--capacity", type=float, metavar="SECONDS", help="measure capacity")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--quota", type=float, default=0.0, help="requests/s, 429 above it")
    args = parser.parse_args()
    Quota.rate = Quota.tokens = args.quota
    Quota.stamp = time.monotonic()
    if args.capacity:
        report = measure_capacity(args.capacity, args.latency_ms / 1000, args.connections)
        print(json.dumps(report))
        return
    asyncio.run(serve(args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
