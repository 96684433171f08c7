"""Child process: one broadcast to every session of a channel, through one library.

    python bench/fanout.py --lib ours --db sqlite:/tmp/b.sqlite3 --sessions 10000 --seed
    python bench/fanout.py --lib ours --db sqlite:/tmp/b.sqlite3 --port 8123

The first form creates the database and its sessions (in its own process, so that building
100,000 rows never counts in the broadcast's memory); the second warms up (200 posts on another
channel: clients, pools and connections made once, as in a long-running process), then
times ``WebSocketSession.objects.filter(channel_name="bench").send(data)`` (ours) or
``.send_message(data)`` (the reference), and prints one ``RESULT {json}`` line: posts/s, CPU ms per
post (all threads of the process), RSS before the broadcast and the process's peak RSS, the
number of posts the endpoint counted and how busy the endpoint was (share of one core).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import common
import endpoint

MESSAGE = {"type": "chat.message", "from": "alice", "text": "hello, this is a broadcast"}
WARMUP_SESSIONS = 200


def redirect_reference_to(port: int) -> None:
    """The reference builds https://{api_id}.execute-api... with no override: point its cached
    boto3 client at the local endpoint instead (same client, same config, other URL)."""
    from django_aws_api_gateway_websockets import models

    original = models.get_boto3_client

    def get_boto3_client(service="apigatewayv2", **kwargs):
        if "endpoint_url" in kwargs:
            kwargs["endpoint_url"] = f"http://127.0.0.1:{port}/{common.STAGE}"
        return original(service, **kwargs)

    models.get_boto3_client = get_boto3_client


def broadcast(lib: str, channel: str) -> int:
    """Send to the channel; returns how many posts the library says succeeded."""
    if lib == "ours":
        from ws_routes.models import WebSocketSession

        result = WebSocketSession.objects.filter(channel_name=channel).send(MESSAGE)
        return result.delivered
    from django_aws_api_gateway_websockets.models import WebSocketSession

    return len(WebSocketSession.objects.filter(channel_name=channel).send_message(MESSAGE))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=common.LIBS, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()

    base_url = f"http://127.0.0.1:{args.port}" if args.port else ""
    common.configure(args.lib, args.db, endpoint=base_url)
    if args.seed:
        common.seed_sessions(args.lib, args.sessions, "bench")
        common.seed_sessions(args.lib, WARMUP_SESSIONS, "warm", prefix="Warm")
        common.emit({"seeded": args.sessions})
        return

    if args.lib == "ref":
        redirect_reference_to(args.port)
    broadcast(args.lib, "warm")
    gc.collect()
    rss_before = common.rss_kib()
    endpoint_before = endpoint.stats(args.port)

    cpu_started = time.process_time()
    started = time.perf_counter()
    delivered = broadcast(args.lib, "bench")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    endpoint_after = endpoint.stats(args.port)
    posted = endpoint_after["requests"] - endpoint_before["requests"]
    endpoint_cpu = endpoint_after["cpu_seconds"] - endpoint_before["cpu_seconds"]
    common.emit(
        {
            "lib": args.lib,
            "sessions": args.sessions,
            "delivered": delivered,
            "endpoint_counted": posted,
            "seconds": round(elapsed, 3),
            "posts_per_second": round(delivered / elapsed, 1),
            "cpu_ms_per_post": round(cpu * 1000 / max(1, delivered), 4),
            # Share of one core the endpoint used meanwhile: well below 1, it was not the limit.
            "endpoint_busy": round(endpoint_cpu / elapsed, 2),
            "rss_before_mib": round(rss_before / 1024, 1),
            "peak_rss_mib": round(common.peak_rss_kib() / 1024, 1),
            "pid": os.getpid(),
        }
    )


if __name__ == "__main__":
    main()
