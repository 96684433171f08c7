"""Run every benchmark for both libraries on this machine, print a table, write RESULTS.md.

    make bench                      # builds bench/.venv, then runs this
    bench/.venv/bin/python bench/run.py [--quick]

Each measurement is a child process (``dispatch.py``, ``wsgi_dispatch.py``, ``fanout.py``) so
the libraries never share a process. The management API is ``endpoint.py``, a loopback server in
its own process, whose own capacity is measured first so that it is known not to be the
bottleneck. ``--quick`` shrinks every size tenfold (a smoke run, not for RESULTS.md);
``--only dispatch`` (``make bench-wsgi``) runs the two dispatch measurements alone, in-process and
through gunicorn, and prints their tables (RESULTS.md untouched).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import channels  # noqa: E402
import common  # noqa: E402
import dispatch  # noqa: E402
import endpoint  # noqa: E402
import validation_report  # noqa: E402

NAMES = {"ours": "django-ws-routes", "ref": "django-aws-api-gateway-websockets 4.1.0"}
CONTENDER_NAMES = {
    "floor": "bare Django",
    "floor-query": "bare Django + session query",
    "ours": "ours",
    "ref": "ref",
}
WSGI_SERVER = "gunicorn, 2 sync workers; wrk, 1 thread, 4 connections"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Fake credentials: both libraries sign every post (SigV4) as they would for AWS.
    env.update(
        AWS_ACCESS_KEY_ID="bench-access-key",
        AWS_SECRET_ACCESS_KEY="bench-secret-key",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTPS_PROXY", "https_proxy"):
        env.pop(name, None)
    return env


def run_child(script: str, *args: str, timeout: float = 400) -> dict:
    command = [sys.executable, str(HERE / script), *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=timeout, cwd=HERE
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


class Endpoint:
    """The loopback management API in a child process, for one latency."""

    def __init__(self, latency_ms: float) -> None:
        self.latency_ms = latency_ms

    def __enter__(self) -> Endpoint:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "endpoint.py"), "--latency-ms", str(self.latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline().split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()  # the endpoint stops when its stdin closes
        self.process.wait(timeout=10)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import django

        django_version = django.get_version()
    except ImportError:
        django_version = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "django": django_version,
        "os": f"{platform.system()} {platform.release()}",
    }


def dispatch_databases(workdir: Path, prefix: str) -> list[tuple[str, Callable[[str], str]]]:
    """(kind, contender -> database) for SQLite and, when it answers, PostgreSQL."""
    databases: list[tuple[str, Callable[[str], str]]] = [
        ("sqlite", lambda lib: f"sqlite:{workdir / f'{prefix}-{lib}.sqlite3'}")
    ]
    if common.postgres_reachable():
        databases.append(("postgres", lambda lib: f"postgres:{prefix}_{lib.replace('-', '_')}"))
    else:
        print("  PostgreSQL not reachable on 127.0.0.1:5432: dispatch on SQLite only")
    return databases


def run_on_fresh_database(db: str, script: str, *args: str, timeout: float = 400) -> dict:
    """``run_child`` against ``db``; a PostgreSQL database is created for it and dropped after."""
    kind, _, name = db.partition(":")
    if kind == "postgres":
        common.recreate_postgres_database(name)
    try:
        return run_child(script, "--db", db, *args, timeout=timeout)
    finally:
        if kind == "postgres":
            common.drop_postgres_database(name)


def bench_dispatch(messages: int, workdir: Path) -> list[dict]:
    rows = []
    for kind, db_for in dispatch_databases(workdir, "ws_routes_bench"):
        for lib in dispatch.CONTENDERS:
            result = run_on_fresh_database(
                db_for(lib), "dispatch.py", "--lib", lib, "--messages", str(messages)
            )
            print(f"  dispatch {kind:8} {lib:11}: {result['messages_per_second']:>8} msg/s, "
                  f"{result['queries_per_message']} queries/msg")  # fmt: skip
            rows.append(result)
    return rows


def bench_wsgi(seconds: float, max_requests: int, workdir: Path) -> list[dict]:
    """Dispatch through gunicorn driven by wrk (``wsgi_dispatch.py``); [] when wrk is missing."""
    if shutil.which("wrk") is None:
        print("  wrk not found (Debian: apt-get install wrk): dispatch through gunicorn skipped")
        return []
    rows = []
    for kind, db_for in dispatch_databases(workdir, "bench_wsgi"):
        for lib in dispatch.CONTENDERS:
            result = run_on_fresh_database(
                db_for(lib), "wsgi_dispatch.py", "--lib", lib, "--seconds", str(seconds),
                "--max-requests", str(max_requests), timeout=seconds + 120,
            )  # fmt: skip
            print(f"  gunicorn {kind:8} {lib:11}: {result['messages_per_second']:>8} msg/s, "
                  f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")  # fmt: skip
            rows.append(result)
    return rows


def bench_fanout(sessions: int, latencies: list[float], workdir: Path) -> list[dict]:
    rows = []
    for lib in common.LIBS:
        db = f"sqlite:{workdir / f'fanout-{lib}-{sessions}.sqlite3'}"
        run_child("fanout.py", "--lib", lib, "--db", db, "--sessions", str(sessions), "--seed")
        for latency in latencies:
            with Endpoint(latency) as ep:
                result = run_child(
                    "fanout.py", "--lib", lib, "--db", db, "--sessions", str(sessions),
                    "--port", str(ep.port),
                )  # fmt: skip
            result["latency_ms"] = latency
            print(f"  fan-out {lib:4} {sessions} sessions @ {latency:>4} ms: "
                  f"{result['posts_per_second']:>9} posts/s, "
                  f"{result['cpu_ms_per_post']} ms CPU/post, "
                  f"peak RSS {result['peak_rss_mib']} MiB, "
                  f"endpoint busy {result['endpoint_busy']:.0%}")  # fmt: skip
            if result["endpoint_counted"] != result["delivered"]:
                raise RuntimeError(f"endpoint counted {result['endpoint_counted']} posts: {result}")
            rows.append(result)
    return rows


def ratio(ours: float, ref: float, digits: int = 1) -> str:
    return f"{ours / ref:.{digits}f}×" if ref else "n/a"


def table(headers: list[str], rows: list[list[object]], left: int = 1) -> list[str]:
    """A Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "---|" * left + "---:|" * (len(headers) - left))
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return lines


def render(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Benchmarks: django-ws-routes vs django-aws-api-gateway-websockets 4.1.0\n",
        f"- Date: {report['date']}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}",
        f"- Python {m['python']}, Django {m['django']}",
        f"- Command: `{report['command']}` ({report['seconds']:.0f} s for the whole run)",
        "- Both libraries sign every post with SigV4 (fake credentials) and post to the same",
        "  loopback endpoint (`bench/endpoint.py`); each measurement is its own process.",
        "",
    ]
    if "capacity" in report:
        lines += render_capacity(report)
    lines += render_dispatch(report)
    if report.get("wsgi") is not None:
        lines += render_wsgi(report)
    if "fanout" in report:
        lines += render_fanout(report)
    if "validation" in report:
        lines += validation_report.render(report.get("validation"), table)
    if report.get("targets"):
        lines.append("\n## Targets (issue 5)\n")
        lines += [f"- {line}" for line in report["targets"]]
    return "\n".join(lines) + "\n"


def render_capacity(report: dict) -> list[str]:
    lines = ["## Endpoint capacity (so it is not what is measured)\n"]
    lines += table(
        ["injected latency", "requests per endpoint CPU-second", "client-bound requests/s"],
        [
            [
                f"{c['latency_ms']:.0f} ms",
                f"{c['requests_per_cpu_second']:,}",
                f"{c['requests_per_second']:,} ({c['connections']} connections)",
            ]
            for c in report["capacity"]
        ],
    )
    lines.append(
        "\nThe first figure is the endpoint's capacity with one core to itself (requests answered "
        "per second of its own CPU); the second is what a bare Python asyncio client in another "
        "process reached, limited by that client. The *endpoint busy* columns below give the "
        "share of one core the endpoint used during each broadcast.\n"
    )
    return lines


def render_dispatch(report: dict) -> list[str]:
    lines = ["## Dispatch: one schema-validated message through the view (test client)\n"]
    by = {(r["db"], r["lib"]): r for r in report["dispatch"]}
    rows = []
    for db in sorted({r["db"] for r in report["dispatch"]}, reverse=True):
        floor, ours, ref = by[(db, "floor")], by[(db, "ours")], by[(db, "ref")]
        query_floor = by.get((db, "floor-query"))
        rows.append(
            [
                db,
                f"{floor['messages_per_second']:,.0f}",
                f"{query_floor['messages_per_second']:,.0f}" if query_floor else "n/a",
                f"{ours['messages_per_second']:,.0f}",
                f"{ref['messages_per_second']:,.0f}",
                ratio(ours["messages_per_second"], ref["messages_per_second"]),
                f"{ours['queries_per_message']} / {ref['queries_per_message']}",
                f"{ours['writes_per_message']} / {ref['writes_per_message']}",
            ]
        )
    lines += table(
        [
            "database",
            "bare Django msg/s",
            "bare Django + session query msg/s",
            "ours msg/s",
            "ref msg/s",
            "ours / ref",
            "queries/msg ours / ref",
            "writes/msg ours / ref",
        ],
        rows,
    )
    return lines


def render_wsgi(report: dict) -> list[str]:
    """In-process and gunicorn dispatch side by side, with ours' ratios to the ref and floors."""
    lines = [f"\n## Dispatch through a WSGI server ({WSGI_SERVER})\n"]
    if not report["wsgi"]:
        return lines + ["Not measured: `wrk` is not installed (Debian: `apt-get install wrk`)."]
    runs = {"in-process": report["dispatch"], "gunicorn": report["wsgi"]}
    rows = []
    for db in sorted({r["db"] for r in report["wsgi"]}, reverse=True):
        for run, results in runs.items():
            rate = {r["lib"]: r["messages_per_second"] for r in results if r["db"] == db}
            rows.append(
                [
                    db,
                    run,
                    *(f"{rate[lib]:,.0f}" for lib in ("floor", "floor-query", "ours", "ref")),
                    ratio(rate["ours"], rate["ref"]),
                    ratio(rate["ours"], rate["floor"], digits=2),
                    ratio(rate["ours"], rate["floor-query"], digits=2),
                ]
            )
    lines += table(
        [
            "database",
            "run",
            "bare Django msg/s",
            "bare Django + session query msg/s",
            "ours msg/s",
            "ref msg/s",
            "ours / ref",
            "ours / bare",
            "ours / bare + query",
        ],
        rows,
        left=2,
    )
    lines.append(
        "\nThrough gunicorn: latency under that load, and CPU per message of the server (master "
        "and workers) and of wrk. CPU per message moves less with the machine's other load "
        "than msg/s does.\n"
    )
    by = {(r["db"], r["lib"]): r for r in report["wsgi"]}
    rows = [
        [
            db,
            CONTENDER_NAMES[lib],
            f"{r['messages_per_second']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['server_cpu_ms_per_message']:.3f}",
            f"{r['wrk_cpu_ms_per_message']:.3f}",
        ]
        for db in sorted({r["db"] for r in report["wsgi"]}, reverse=True)
        for lib in dispatch.CONTENDERS
        for r in [by[(db, lib)]]
    ]
    lines += table(
        [
            "database",
            "contender",
            "msg/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/msg",
            "wrk CPU ms/msg",
        ],
        rows,
        left=2,
    )
    return lines


def render_fanout(report: dict) -> list[str]:
    lines = ["\n## Fan-out: one broadcast to every session of one channel\n"]
    fan = {(r["lib"], r["latency_ms"]): r for r in report["fanout"]}
    rows = []
    for latency in report["latencies"]:
        ours, ref = fan[("ours", latency)], fan[("ref", latency)]
        rows.append(
            [
                f"{ours['sessions']:,}",
                f"{latency:.0f} ms",
                f"{ours['posts_per_second']:,.0f}",
                f"{ref['posts_per_second']:,.0f}",
                ratio(ours["posts_per_second"], ref["posts_per_second"]),
                f"{ours['cpu_ms_per_post']:.3f}",
                f"{ref['cpu_ms_per_post']:.3f}",
                f"{ours['endpoint_busy']:.0%} / {ref['endpoint_busy']:.0%}",
            ]
        )
    lines += table(
        [
            "sessions",
            "latency",
            "ours posts/s",
            "ref posts/s",
            "ours / ref",
            "ours CPU ms/post",
            "ref CPU ms/post",
            "endpoint busy ours / ref",
        ],
        rows,
    )

    lines.append("\n## Memory: peak RSS of one broadcast\n")
    mem = {r["lib"]: r for r in report["memory"]}
    lines += table(
        ["library", "sessions", "RSS before", "peak RSS", "growth", "posts/s"],
        [
            [
                NAMES[lib],
                f"{r['sessions']:,}",
                f"{r['rss_before_mib']} MiB",
                f"{r['peak_rss_mib']} MiB",
                f"{r['peak_rss_mib'] - r['rss_before_mib']:.1f} MiB",
                f"{r['posts_per_second']:,.0f}",
            ]
            for lib, r in mem.items()
        ],
    )
    return lines


def targets(report: dict) -> list[str]:
    lines = []
    by = {(r["db"], r["lib"]): r["messages_per_second"] for r in report["dispatch"]}
    for db, wanted in (("sqlite", 10), ("postgres", 3)):
        if (db, "ours") not in by:
            continue
        speedup = by[(db, "ours")] / by[(db, "ref")]
        lines.append(
            f"dispatch on {db} ≥ {wanted}× the reference: {speedup:.1f}× "
            + ("— met" if speedup >= wanted else f"— missed by {wanted - speedup:.1f}×")
        )
        behind = by[(db, "floor")] / by[(db, "ours")]
        lines.append(
            f"dispatch on {db} within 2× of the bare-Django floor: {behind:.2f}× "
            + ("— met" if behind <= 2 else f"— missed by {behind - 2:.2f}×")
        )
    if "fanout" not in report:
        return lines
    fan = {(r["lib"], r["latency_ms"]): r for r in report["fanout"]}
    if ("ours", 20.0) in fan:
        ours, ref = fan[("ours", 20.0)], fan[("ref", 20.0)]
        speedup = ours["posts_per_second"] / ref["posts_per_second"]
        lines.append(
            f"fan-out at 20 ms ≥ 10× the reference: {speedup:.1f}× "
            + ("— met" if speedup >= 10 else f"— missed by {10 - speedup:.1f}×")
        )
        pps = ours["posts_per_second"]
        lines.append(
            f"≥ 5,000 posts/s at 20 ms in one process: {pps:,.0f} "
            + ("— met" if pps >= 5000 else f"— missed by {5000 - pps:,.0f} posts/s")
        )
    worst = max(r["cpu_ms_per_post"] for r in report["fanout"] if r["lib"] == "ours")
    lines.append(
        f"CPU ≤ 0.2 ms per post: worst {worst:.3f} ms " + ("— met" if worst <= 0.2 else "— missed")
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tenfold smaller, no RESULTS.md")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument(
        "--only", choices=("dispatch",), help="dispatch alone, in-process and through gunicorn"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    started = datetime.datetime.now(datetime.timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="ws-routes-bench-"))
    latencies = [0.0, 20.0]
    report: dict = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": ("make bench-wsgi" if args.only else "make bench")
        + (" (--quick)" if args.quick else ""),
        "machine": machine(),
        "latencies": latencies,
    }
    try:
        if not args.only:
            print("endpoint capacity")
            report["capacity"] = [
                endpoint.measure_capacity(3 / scale, latency / 1000, 200) for latency in latencies
            ]
            for cap in report["capacity"]:
                print(f"  {cap['latency_ms']:.0f} ms: {cap['requests_per_cpu_second']:,} requests "
                      f"per endpoint CPU-second, {cap['requests_per_second']:,} requests/s from a "
                      "Python client")  # fmt: skip
        print("dispatch")
        report["dispatch"] = bench_dispatch(3000 // scale, workdir)
        print(f"dispatch through gunicorn ({WSGI_SERVER})")
        report["wsgi"] = bench_wsgi(10 / scale, 100_000 // scale, workdir)
        if not args.only:
            print("fan-out")
            report["fanout"] = bench_fanout(10_000 // scale, latencies, workdir)
            print("memory")
            report["memory"] = bench_fanout(100_000 // scale, [0.0], workdir)
            print("validation")
            report["validation"] = validation_report.measure(run_child, 3000 // scale, workdir)
            print("channels")
            report["channels"] = channels.bench_channels(
                run_child, Endpoint, 10_000 // scale, workdir
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    finish(args, report, started)


def finish(args: argparse.Namespace, report: dict, started: datetime.datetime) -> None:
    """Targets, the rendered tables on stdout and, for a full run, RESULTS.md and results.json."""
    report["targets"] = targets(report)
    report["seconds"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    text = render(report) + "\n".join(channels.render(report["channels"]))
    print()
    print(text)
    if not args.quick and not args.only:
        Path(args.output).write_text(text)
        (HERE / "out").mkdir(exist_ok=True)
        (HERE / "out" / "results.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
