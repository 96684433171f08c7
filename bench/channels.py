"""Channels (issue 12): one broadcast to a 10,000-subscriber channel, with and without history.

    python bench/channels.py --db sqlite:/tmp/c.sqlite3 --subscribers 10000 --seed
    python bench/channels.py --db sqlite:/tmp/c.sqlite3 --port 8123

The first form creates the sessions, each subscribed to ``bench-plain:x`` and ``bench-hist:x``
(a ``history=100`` channel). The second warms up, then times ``Channel(name).send(data)`` to
each channel ``ROUNDS`` times, alternating, and prints one ``RESULT {json}`` line: posts/s and
CPU ms per post for each, and what history adds per broadcast (the INSERT that numbers the
message, and its share of the broadcast). Only ours: the reference has no channels of this kind.
``run.py`` calls :func:`bench_channels` and :func:`render` (``make bench``).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common

MESSAGE = {"type": "chat.message", "from": "alice", "text": "hello, this is a broadcast"}
CHANNELS = {"plain": "bench-plain:x", "history": "bench-hist:x"}
ROUNDS = 3


def register_rules() -> None:
    from ws_routes import Router

    router = Router(app_name="bench_channels")
    router.add_channel("bench-plain:{x}")
    router.add_channel("bench-hist:{x}", history=100)
    register_rules.router = router  # type: ignore[attr-defined]  (keep it alive)


def seed(count: int) -> None:
    from ws_routes.models import Subscription, WebSocketSession

    common.seed_sessions("ours", count, "")
    sessions = WebSocketSession.objects.values_list("pk", flat=True).iterator(chunk_size=5000)
    batch: list[Subscription] = []
    for pk in sessions:
        for slot, name in enumerate(CHANNELS.values()):
            batch.append(Subscription(session_id=pk, channel=name, slot=slot))
        if len(batch) >= 10_000:
            Subscription.objects.bulk_create(batch)
            batch = []
    Subscription.objects.bulk_create(batch)


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its peak so far (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def timed(name: str) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ws_routes import Channel

    cpu_started = time.process_time()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = Channel(name).send(MESSAGE)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    return {
        "delivered": result.delivered,
        "seconds": elapsed,
        "cpu": cpu,
        "insert_seconds": sum(float(q["time"]) for q in inserts),
        "inserts": len(inserts),
        "queries": len(queries.captured_queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    common.configure("ours", args.db, endpoint=f"http://127.0.0.1:{args.port}" if args.port else "")
    if args.seed:
        seed(args.subscribers)
        common.emit({"seeded": args.subscribers})
        return
    register_rules()
    from django.conf import settings

    settings.DEBUG = True  # query times for the INSERT (CaptureQueriesContext)
    rss_before = rss_mib()
    for name in CHANNELS.values():  # warm up: clients, pools, the prepared plans
        timed(name)
    gc.collect()
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in CHANNELS}
    for _ in range(ROUNDS):
        for kind, name in CHANNELS.items():
            runs[kind].append(timed(name))
    report: dict[str, Any] = {
        "subscribers": runs["plain"][-1]["delivered"],  # as measured, not the --seed size
        "rounds": ROUNDS,
        # Subscribers are read in chunks: the peak stays near the start however many there are.
        "rss_before_mib": rss_before,
        "peak_rss_mib": rss_mib("VmHWM"),
    }
    for kind, rows in runs.items():
        delivered = sum(r["delivered"] for r in rows)
        seconds = sum(r["seconds"] for r in rows)
        report[kind] = {
            "delivered_per_broadcast": rows[-1]["delivered"],
            "posts_per_second": round(delivered / seconds, 1),
            "cpu_ms_per_post": round(sum(r["cpu"] for r in rows) * 1000 / max(1, delivered), 4),
            "ms_per_broadcast": round(seconds * 1000 / len(rows), 1),
            "inserts_per_broadcast": rows[-1]["inserts"],
            "queries_per_broadcast": rows[-1]["queries"],
            "insert_ms": round(sum(r["insert_seconds"] for r in rows) * 1000 / len(rows), 3),
        }
    report["history_overhead_ms"] = round(
        report["history"]["ms_per_broadcast"] - report["plain"]["ms_per_broadcast"], 1
    )
    common.emit(report)


def bench_channels(
    run_child: Callable[..., dict],
    endpoint_at: Callable[[float], Any],
    subscribers: int,
    workdir: Path,
) -> dict:
    """Seed once, then one measuring child at 0 ms latency (run.py's helpers passed in)."""
    db = f"sqlite:{workdir / f'channels-{subscribers}.sqlite3'}"
    run_child("channels.py", "--db", db, "--subscribers", str(subscribers), "--seed")
    with endpoint_at(0.0) as ep:
        result = run_child("channels.py", "--db", db, "--port", str(ep.port))
    for kind in CHANNELS:
        row = result[kind]
        if row["delivered_per_broadcast"] != subscribers:
            raise RuntimeError(f"channels {kind}: delivered {row['delivered_per_broadcast']}")
        print(f"  channel {kind:7} {subscribers} subscribers: {row['posts_per_second']:>9} posts/s,"
              f" {row['cpu_ms_per_post']} ms CPU/post, {row['ms_per_broadcast']} ms/broadcast,"
              f" {row['inserts_per_broadcast']} INSERT ({row['insert_ms']} ms)")  # fmt: skip
    return result


def render(result: dict) -> list[str]:
    """The RESULTS.md section."""
    lines = [
        f"\n## Channels: a broadcast to {result['subscribers']:,} subscribers, with and without "
        f"history (ours only, 0 ms latency, {result['rounds']} rounds)\n",
        "| channel | posts/s | CPU ms/post | ms/broadcast | writes | INSERT ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind in CHANNELS:
        row = result[kind]
        lines.append(
            f"| {kind} | {row['posts_per_second']:,.0f} | {row['cpu_ms_per_post']} | "
            f"{row['ms_per_broadcast']} | {row['inserts_per_broadcast']} | {row['insert_ms']} |"
        )
    lines.append(
        f"\nHistory adds one INSERT per message (it numbers itself): "
        f"{result['history']['insert_ms']} ms here. Broadcast time with history minus without: "
        f"{result['history_overhead_ms']} ms (pushes included; on a shared machine the "
        "run-to-run noise is of this order).\n"
    )
    return lines


if __name__ == "__main__":
    main()
