"""Run the floor measurements of issue 24 and print their RESULTS.md section (Markdown).

    bench/.venv/bin/python bench/floor_run.py [--quick] [--before /work/main] > section.md

In order: the per-step profile (``floor_steps.py``, hot; with ``--before PATH`` also for the
code at PATH, through ``PYTHONPATH``), the same steps in the flow (``floor_flow.py``), ours
against the floor in-process (``floor.py``: every request of ``floor_views``, flat-cost rows
included) and through gunicorn (``floor_wsgi.py``), and dispatch against the reference
(``dispatch.py``), each on SQLite and, when it answers, PostgreSQL (throw-away databases). Every
child stops loudly if the floor or ours does other work than stated; this script then fails
too. The figures are also written to ``bench/out/floor.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import floor_views  # noqa: E402
import run  # noqa: E402


def child(script: str, db: str, *args: str, env: dict[str, str] | None = None) -> dict:
    if env:
        os.environ.update(env)
    try:
        return run.run_on_fresh_database(db, script, *args, timeout=1500)
    finally:
        for key in env or {}:
            os.environ.pop(key, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", help="a checkout whose ws_routes is profiled as 'before'")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ws-routes-floor-run-"))
    report: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": run.machine(),
        "load": os.getloadavg(),
    }
    rounds, messages = ("3", "60") if args.quick else ("5", "200")
    try:
        for kind, db_for in run.dispatch_databases(workdir, "bench_floor"):
            print(f"{kind}: steps", file=sys.stderr)
            if args.before:
                report[f"steps_before_{kind}"] = child(
                    "floor_steps.py", db_for("steps_before"), env={"PYTHONPATH": args.before}
                )
            report[f"steps_{kind}"] = child("floor_steps.py", db_for("steps"))
            report[f"flow_{kind}"] = child("floor_flow.py", db_for("flow"))
            print(f"{kind}: in-process", file=sys.stderr)
            report[f"floor_{kind}"] = child(
                "floor.py", db_for("floor"), "--rounds", rounds, "--messages", messages
            )
            if shutil.which("wrk"):
                print(f"{kind}: gunicorn", file=sys.stderr)
                report[f"wsgi_{kind}"] = child(
                    "floor_wsgi.py", db_for("wsgi"), "--rounds", "3" if args.quick else "5",
                    "--seconds", "1" if args.quick else "3",
                )  # fmt: skip
            for lib in ("ours", "ref"):
                print(f"{kind}: dispatch {lib}", file=sys.stderr)
                report[f"dispatch_{lib}_{kind}"] = child(
                    "dispatch.py", db_for(f"dispatch_{lib}"), "--lib", lib,
                    "--messages", "300" if args.quick else "2000",
                )  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "floor.json").write_text(json.dumps(report, indent=2))
    print(render(report))


def render(report: dict) -> str:
    import floor_report

    return floor_report.render(report, run.table, floor_views)


if __name__ == "__main__":
    main()
