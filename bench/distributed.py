"""Background broadcast on 2 Celery workers under one account quota (``make bench-distributed``).

200,000 sessions (SQLite file), the loopback endpoint with 20 ms latency enforcing a quota
(429 above it), 2 worker processes (``--pool=solo``) sharing ``SEND_RATE_LIMIT`` = the quota in
Redis (DB 11, ``--redis-db``). Run 1: a clean broadcast to every session. Run 2: to a
channel (a join), one worker SIGKILLed at ~30%. Then 21 enqueues of each kind, timed.
Reports posts/s as a share of the quota, share answered 429, recipients accounted, duplicates
and their bound, and the enqueue latency the caller sees. Appends a section to RESULTS.md.

No post of a shard starts more than ``SHARD_CHECKPOINT`` recipients (``--checkpoint``, default
100) past its last recorded checkpoint, checkpoints being recorded every ``SHARD_CHECKPOINT -
min(SEND_CONCURRENCY, SHARD_CHECKPOINT // 2)`` recipients while the next posts go on: the killed
worker's shard resumes there, so the run fails (exit 1) when the SIGKILL run sends more
duplicates than ``SHARD_CHECKPOINT`` per redelivered shard (issue 24's goal), or a run's share
of the quota is under 95%.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def endpoint_stats(port: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from endpoint import stats

    return stats(port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--quota", type=float, default=3000.0)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--checkpoint", type=int, default=100, help="SHARD_CHECKPOINT")
    parser.add_argument("--redis-db", type=int, default=11, help="broker and rate bucket")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    # `timeout` (make bench-distributed) sends SIGTERM: stop the workers and the endpoint too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(exist_ok=True)
    db = OUT / "distributed.sqlite3"
    db.unlink(missing_ok=True)
    queue = f"ws_routes_bench_{os.getpid()}"
    key = f"ws_routes_bench:rate:{uuid.uuid4().hex}"
    # Its own Redis database: the test suite's worker tests flush DB 7 (tests/celery_app.py),
    # which would drop this run's queued shard tasks.
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    os.environ.update(
        WS_ROUTES_TEST_BROKER=redis_url,
        DJANGO_SETTINGS_MODULE="tests.worker_settings",
        WS_ROUTES_WORKER_DB=str(db),
        WS_ROUTES_TEST_QUEUE=queue,
        WS_ROUTES_TEST_VISIBILITY_TIMEOUT="5",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT),
    )
    endpoint = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "endpoint.py"), "--latency-ms",
         str(args.latency_ms), "--quota", str(args.quota)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    port = int(endpoint.stdout.readline().split()[1])
    overrides = {
        "MANAGEMENT_ENDPOINT": f"http://127.0.0.1:{port}/{{api_id}}/{{stage}}",
        "SEND_RATE_LIMIT": args.quota,
        "SEND_RATE_LIMIT_REDIS_URL": redis_url,
        "SEND_RATE_LIMIT_KEY": key,
        "BACKGROUND_SHARD_SIZE": 2000,
        "BACKGROUND_SHARD_LEASE_SECONDS": 5,
        "SHARD_CHECKPOINT": args.checkpoint,
    }
    os.environ["WS_ROUTES_WORKER_OVERRIDES"] = json.dumps(overrides)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.background_support import make_sessions
    from tests.celery_app import app
    from ws_routes.conf import ws_settings
    from ws_routes.models import Broadcast, BroadcastShard, WebSocketSession

    concurrency = int(ws_settings()["SEND_CONCURRENCY"])  # the workers' settings too

    app.conf.task_default_queue = queue
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    make_sessions(args.sessions)

    def worker(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue,
             "-n", f"{name}@%h", "--loglevel=ERROR"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    workers = [worker(f"w{n}") for n in range(args.workers)]
    time.sleep(4)  # workers up
    results = []
    try:
        for kill in (False, True):
            WebSocketSession.objects.update(connected=True)
            before = endpoint_stats(port)
            endpoint_stats_reset = __import__("http.client").client.HTTPConnection(
                "127.0.0.1", port
            )
            endpoint_stats_reset.request("GET", "/count/reset")
            endpoint_stats_reset.getresponse().read()
            # Run 1 sends to the whole table, run 2 to a channel (a join on its subscriptions):
            # 200,000 recipients each; the caller's enqueue must not depend on the query.
            recipients = (
                WebSocketSession.objects.in_channel("lobby") if kill else WebSocketSession.objects
            )
            started = time.perf_counter()
            broadcast = recipients.send({"bench": 1}, background=True)
            enqueue_ms = (time.perf_counter() - started) * 1000
            killed = False
            deadline = time.monotonic() + 600
            while not broadcast.is_done and time.monotonic() < deadline:
                time.sleep(0.2)
                broadcast.refresh_from_db()
                counted = broadcast.total is not None
                if kill and not killed and counted and broadcast.accounted >= 0.3 * broadcast.total:
                    os.kill(workers[0].pid, signal.SIGKILL)
                    workers[0].wait()
                    killed = True
            elapsed = time.perf_counter() - started
            after = endpoint_stats(port)
            requests = after["requests"] - before["requests"]
            throttled = after["throttled"] - before["throttled"]
            ok = requests - throttled
            redelivered = BroadcastShard.objects.filter(broadcast=broadcast, attempts__gt=1)
            results.append(
                {
                    "run": (
                        "in_channel('lobby'), one worker SIGKILLed at 30%"
                        if kill
                        else "all sessions, 2 workers"
                    ),
                    "state": broadcast.state,
                    "total": broadcast.total,
                    "accounted": broadcast.delivered + broadcast.gone + broadcast.failed,
                    "delivered": broadcast.delivered,
                    "unique_delivered_at_endpoint": after["unique"],
                    "duplicates": ok - after["unique"],
                    "duplicate_bound": broadcast.possible_duplicates,
                    "redelivered_shards": redelivered.count(),
                    "checkpoint": args.checkpoint,
                    "concurrency": concurrency,
                    "seconds": round(elapsed, 1),
                    "posts_per_s": round(requests / elapsed),
                    "share_of_quota": round(ok / elapsed / args.quota, 3),
                    "share_429": round(throttled / max(1, requests), 4),
                    "enqueue_ms": round(enqueue_ms, 1),
                }
            )
            print(json.dumps(results[-1]), flush=True)
            assert Broadcast.objects.filter(pk=broadcast.pk, state="finished").exists()
        latencies = enqueue_latencies(WebSocketSession, Broadcast, app)
        print(json.dumps(latencies), flush=True)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            w.wait(timeout=30)
        endpoint.stdin.close()
        endpoint.wait(timeout=10)
    (OUT / "distributed.json").write_text(json.dumps({"runs": results, **latencies}, indent=2))
    if args.write:
        write_results(results, latencies, args)
    missed = goals_missed(results)
    for line in missed:
        print(f"GOAL MISSED: {line}", file=sys.stderr)
    if missed:
        sys.exit(1)


def duplicate_limit(r: dict) -> int:
    """The guaranteed bound: ``SHARD_CHECKPOINT`` per redelivered shard."""
    return r["checkpoint"] * r["redelivered_shards"]


def goals_missed(results: list[dict]) -> list[str]:
    """Duplicates within the bound per redelivered shard; >= 95% of the quota."""
    missed = []
    for r in results:
        allowed = duplicate_limit(r)
        if r["duplicates"] > allowed:
            missed.append(f"{r['run']}: {r['duplicates']} duplicates > {allowed}")
        if r["share_of_quota"] < 0.95:
            missed.append(f"{r['run']}: {r['share_of_quota']:.1%} of the quota < 95%")
    return missed


def enqueue_latencies(sessions, broadcasts, app, repeat: int = 21) -> dict:
    """Median and worst enqueue latency of ``repeat`` background sends to 200,000 recipients,
    published for real to a queue no worker reads (then dropped), per kind of queryset."""
    import statistics

    from django.conf import settings

    parked = f"ws_routes_bench_parked_{os.getpid()}"
    saved = settings.WS_ROUTES
    settings.WS_ROUTES = {**saved, "BACKGROUND_QUEUE": parked}
    figures = {}
    try:
        for label, recipients in (
            ("all sessions", sessions.objects.all),
            ("in_channel('lobby')", lambda: sessions.objects.in_channel("lobby")),
        ):
            timings = []
            for _ in range(repeat):
                queryset = recipients()
                started = time.perf_counter()
                broadcast = queryset.send({"bench": 1}, background=True)
                timings.append((time.perf_counter() - started) * 1000)
                broadcasts.objects.filter(pk=broadcast.pk).delete()
            figures[label] = {
                "recipients": recipients().filter(connected=True).count(),
                "median_ms": round(statistics.median(timings), 1),
                "max_ms": round(max(timings), 1),
            }
    finally:
        settings.WS_ROUTES = saved
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(parked)
    return {"enqueue": figures}


def write_results(results: list[dict], latencies: dict, args: argparse.Namespace) -> None:
    from ws_routes.sending import checkpoint_spacing

    every, _ = checkpoint_spacing(args.checkpoint, results[0]["concurrency"])
    lines = [
        "",
        "## Distributed background broadcast (`make bench-distributed`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on a shared "
        f"{os.cpu_count()}-core machine (load average {os.getloadavg()[0]:.1f} when written). "
        f"{args.sessions:,} sessions on SQLite, {args.workers} Celery workers (`--pool=solo`), "
        f"endpoint latency {args.latency_ms:.0f} ms, account quota {args.quota:,.0f} posts/s "
        "(429 above it), `SEND_RATE_LIMIT` = the quota in Redis, "
        f"`SHARD_CHECKPOINT` = {args.checkpoint} (a redelivered shard resumes from its last "
        "checkpoint, recorded every `SHARD_CHECKPOINT - min(SEND_CONCURRENCY, SHARD_CHECKPOINT "
        f"// 2)` = {every} recipients; it may send again at most `SHARD_CHECKPOINT` = "
        f"{args.checkpoint} posts).",
        "",
        "| run | posts/s | share of quota (goal >= 95%) | answered 429 (goal < 1%) | "
        "accounted | duplicates (bound, redelivered) | within `SHARD_CHECKPOINT` per shard | "
        "enqueue ms (goal < 50) | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['run']} | {r['posts_per_s']:,} | {r['share_of_quota']:.1%} | "
            f"{r['share_429']:.2%} | {r['accounted']:,}/{r['total']:,} | "
            f"{r['duplicates']} ({r['duplicate_bound']}, {r['redelivered_shards']} shard(s)) | "
            f"{within(r)} | {r['enqueue_ms']} | {r['seconds']} |"
        )
    lines += [
        "",
        "Enqueue latency seen by the caller (goal < 50 ms for 200,000 recipients): "
        "21 background sends each, published to a queue no worker reads.",
        "",
        "| recipients | count | median ms | worst ms |",
        "|---|---|---|---|",
    ]
    for label, figure in latencies["enqueue"].items():
        lines.append(
            f"| `{label}` | {figure['recipients']:,} | {figure['median_ms']} | {figure['max_ms']} |"
        )
    replace_section(ROOT / "bench" / "RESULTS.md", lines)


def within(r: dict) -> str:
    """Whether the duplicates stayed within ``SHARD_CHECKPOINT`` per redelivered shard."""
    limit = duplicate_limit(r)
    return f"{'yes' if r['duplicates'] <= limit else 'no'} (<= {limit})"


def replace_section(path: Path, lines: list[str]) -> None:
    """Put the section (its heading is ``lines[1]``) in place of the one of the same heading,
    up to the next ``## `` heading; appended when there is none."""
    text = path.read_text(encoding="utf-8")
    heading = lines[1]
    section = "\n".join(lines[1:]) + "\n"
    start = text.find(heading + "\n")
    if start < 0:
        path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
        return
    end = text.find("\n## ", start + len(heading))
    rest = "" if end < 0 else text[end:]
    path.write_text(text[:start] + section + rest, encoding="utf-8")


if __name__ == "__main__":
    main()
