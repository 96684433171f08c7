"""Child process: ours against the one-round-trip floor through gunicorn + wrk, interleaved.

    python bench/floor_wsgi.py --db sqlite:/tmp/fw.sqlite3 --rounds 4 --seconds 3
    python bench/floor_wsgi.py --db postgres:bench_floor_wsgi

One gunicorn (2 sync workers, ``--preload``, as ``wsgi_dispatch.py``) serves ours and the floor
of ``floor_views`` side by side (``wsgi_app.py`` with ``BENCH_WSGI_LIB=floor-pair``); its master
runs ``floor.verify`` before forking, so the server stops loudly if the floor does more or less
work than stated. Then each round runs wrk (1 thread, 4 connections) for ``--seconds`` against
each request in turn (the order alternates), every response having the status it should. Prints
``RESULT {json}``: per request the median msg/s, µs per message (1 / msg/s) and server CPU
µs per message, and the median over rounds of ours / floor in time per message and in CPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import common
import floor_views
import wsgi_dispatch as wd

MEASURED = ("floor", "ours", "forged secret", "malformed JSON", "unknown route")


def script_for(request: dict[str, Any], status: int) -> str:
    text = wd.lua_script(request, 10**9)
    return text.replace("status ~= 200", f"status ~= {status}")


def one_run(server: wd.Gunicorn, script: Path, seconds: float) -> dict[str, Any]:
    pids = wd.process_tree(server.process.pid)
    cpu = wd.cpu_seconds(pids)
    result = wd.run_wrk(server.port, script, seconds, wd.CONNECTIONS)
    cpu = wd.cpu_seconds(pids) - cpu
    errors = result["not_200"] + result["connect_errors"] + result["read_errors"]
    if errors + result["timeouts"]:
        raise SystemExit(f"{script.name}: {errors} failed requests: {result}")
    if wd.process_tree(server.process.pid) != pids:
        raise SystemExit("gunicorn's workers changed during the run")
    rate = result["requests"] / (result["duration_us"] / 1e6)
    return {"rate": rate, "cpu_us": cpu * 1e6 / result["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="ws-routes-floor-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in MEASURED}
    try:
        with wd.Gunicorn(floor_views.PAIR, args.db, workdir) as server:
            everything = server.wait_ready()["all"]
            scripts = {}
            for index, name in enumerate(MEASURED):
                scripts[name] = workdir / f"post{index}.lua"
                scripts[name].write_text(script_for(everything[name], everything[name]["status"]))
                wd.run_wrk(server.port, scripts[name], 1, wd.CONNECTIONS)  # warm-up
            for round_ in range(args.rounds):
                order = list(MEASURED) if round_ % 2 == 0 else list(reversed(MEASURED))
                for name in order:
                    runs[name].append(one_run(server, scripts[name], args.seconds))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    time_ratio = [f["rate"] / o["rate"] for f, o in zip(runs["floor"], runs["ours"], strict=True)]
    cpu_ratio = [
        o["cpu_us"] / f["cpu_us"] for f, o in zip(runs["floor"], runs["ours"], strict=True)
    ]
    common.emit(
        {
            "db": args.db.partition(":")[0],
            "server": f"gunicorn {wd.WORKERS} sync workers, wrk 1 thread {wd.CONNECTIONS} conns",
            "rounds": args.rounds,
            "seconds": args.seconds,
            "messages_per_second": {
                n: round(statistics.median(r["rate"] for r in rs), 1) for n, rs in runs.items()
            },
            "us_per_message": {
                n: round(statistics.median(1e6 / r["rate"] for r in rs), 1)
                for n, rs in runs.items()
            },
            "server_cpu_us_per_message": {
                n: round(statistics.median(r["cpu_us"] for r in rs), 1) for n, rs in runs.items()
            },
            "ours_over_floor": round(statistics.median(time_ratio), 3),
            "ours_over_floor_rounds": [round(r, 3) for r in time_ratio],
            "ours_over_floor_cpu": round(statistics.median(cpu_ratio), 3),
        }
    )


if __name__ == "__main__":
    main()
