"""The RESULTS.md section of ``floor_run.py``: ours against the one-round-trip floor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BAD = ("forged secret", "malformed JSON", "unknown route")


def _dbs(report: dict, prefix: str) -> list[str]:
    return [key.removeprefix(prefix) for key in report if key.startswith(prefix)]


def render(report: dict, table: Callable[..., list[str]], views: Any) -> str:
    m = report["machine"]
    load = ", ".join(f"{x:.1f}" for x in report["load"])
    busy = report["load"][0] > int(m["cores"]) / 2
    lines = [
        "## One round trip: ours against the floor (issue 24)\n",
        f"- Measured {report['date']} by `bench/.venv/bin/python bench/floor_run.py` on "
        f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, Django {m['django']}.",
        f"- Load average {load} on {m['cores']} cores when the run started"
        f"{' (a shared, busy machine: absolute µs are inflated)' if busy else ''}; ours and "
        "the floor were measured **interleaved in the same run** (in-process: one message of "
        "each request in turn, the order shuffled for each message; gunicorn: alternating wrk "
        "runs against one server), so the ratios are from one run.",
        "- **The floor** (`bench/floor_views.py`): the same settings, middleware and request "
        "(headers and body), a strict JSON parse, exactly one `cursor.execute` of the SQL text "
        "our message query sends (taken from the ORM at start-up) with `fetchone`, and the "
        "same reply encoding. Every run first posts each request with queries captured and "
        "stops unless the floor and ours run exactly one query each, the same SQL text, and "
        "answer the same reply, and unless every bad input runs none.",
        "",
    ]
    rows = []
    for db in _dbs(report, "floor_"):
        r = report[f"floor_{db}"]
        us = r["us_per_message"]
        rows.append(
            [db, "in-process (WSGIHandler)", f"{us['floor']:.0f}", f"{us['ours']:.0f}",
             f"**{r['ours_over_floor']:.2f}×**", ", ".join(f"{x:.2f}" for x in
             r["ours_over_floor_rounds"]), _ratio(r, "ours_over_flat_floor"),
             _ratio(r, "ours_over_direct_floor"), f"{us['noop']:.0f}"]
        )  # fmt: skip
        w = report.get(f"wsgi_{db}")
        if w:
            wu = w["us_per_message"]
            rows.append(
                [db, "gunicorn 2 sync workers + wrk", f"{wu['floor']:.0f}", f"{wu['ours']:.0f}",
                 f"**{w['ours_over_floor']:.2f}×** (CPU {w['ours_over_floor_cpu']:.2f}×)",
                 ", ".join(f"{x:.2f}" for x in w["ours_over_floor_rounds"]), "n/a", "n/a",
                 "n/a"]
            )  # fmt: skip
    lines += table(
        ["database", "server", "floor µs/msg", "ours µs/msg", "ours / floor (median)",
         "per round", "ours / floor mounted flat", "ours / floor through sqlite3 directly",
         "empty Django view µs"],
        rows, left=2,
    )  # fmt: skip
    lines.append(
        "\nThrough gunicorn, µs/msg is 1 / msg/s of the 2 workers together; *CPU* is the "
        "server's CPU per message (master and workers, `/proc`). The floor is mounted as ours "
        "is (`include()` of an app's patterns, as the README mounts `router.urls`), so URL "
        "resolution costs both the same; *mounted flat* is the same floor at the top of the "
        'URLconf (`path("floor-flat/", view)`), what a project that mounts `router.view` '
        "flat would gain. *Through sqlite3 directly* (SQLite only) is a stricter floor: "
        "Django's SQLite cursor rewrites `%s` to `?` in the SQL on every `execute`, which "
        "the floor as defined pays and ours does once at start-up; this floor skips it too "
        "(the rewritten text to `sqlite3`'s own `execute`), so it is what ours costs over a "
        "floor that does no per-message work but the query.\n"
    )
    lines.append("### Dispatch against the reference (`dispatch.py`, test client, same run)\n")
    rows = []
    for db in _dbs(report, "dispatch_ours_"):
        ours, ref = report[f"dispatch_ours_{db}"], report[f"dispatch_ref_{db}"]
        rows.append(
            [db, f"{ours['messages_per_second']:,.0f}", f"{ref['messages_per_second']:,.0f}",
             f"**{ours['messages_per_second'] / ref['messages_per_second']:.1f}×**",
             f"{ours['queries_per_message']} / {ref['queries_per_message']}",
             f"{ours['writes_per_message']} / {ref['writes_per_message']}"]
        )  # fmt: skip
    lines += table(
        ["database", "ours msg/s", "ref msg/s", "ours / ref", "queries/msg", "writes/msg"], rows
    )
    lines.append("\n### Bad input, same run (µs per message; each runs no query)\n")
    rows = []
    for db in _dbs(report, "floor_"):
        us = report[f"floor_{db}"]["us_per_message"]
        rows.append([db, "in-process", f"{us['ours']:.0f}", *(f"{us[b]:.0f}" for b in BAD)])
        w = report.get(f"wsgi_{db}")
        if w:
            wu = w["us_per_message"]
            rows.append([db, "gunicorn", f"{wu['ours']:.0f}", *(f"{wu[b]:.0f}" for b in BAD)])
    lines += table(["database", "server", "good message", *BAD], rows, left=2)
    lines.append("\n### Flat cost (in-process, µs per message, same run)\n")
    rows = []
    for db in _dbs(report, "floor_"):
        us = report[f"floor_{db}"]["us_per_message"]
        rows.append([db, "registered routes", *(f"{n:,}: {us[f'routes {n}']:.0f}"
                                                for n in views.ROUTE_COUNTS)])  # fmt: skip
        rows.append([db, "socket's channels", *(f"{n}: {us[f'channels {n}']:.0f}"
                                                for n in views.CHANNEL_COUNTS)])  # fmt: skip
        rows.append([db, "body (DOC_SCHEMA)", *(f"{n} KiB: {us[f'body {n} KiB']:.0f}"
                                                for n in views.BODY_KIB)])  # fmt: skip
    lines += table(["database", "grows with", "small", "medium", "large"], rows, left=2)
    lines.append(
        "\nRoutes: 10, 100 and 1,000 registered on one router (`chat.send` looked up); "
        "channels: a socket subscribed to 1, 10 and 100 channels (the message query reads "
        "the session row alone, never the subscriptions); bodies of 1, 32 and 128 KiB, a list "
        "of `{id, text}` records under `floor_views.DOC_SCHEMA`.\n"
    )
    lines.append("### Where a good message's time goes (`floor_steps.py`, µs per call)\n")
    keys = [k for k in ("steps_before_sqlite", "steps_sqlite", "steps_before_postgres",
                        "steps_postgres") if k in report]  # fmt: skip
    names = list(report[keys[-1]]["steps_us"])
    rows = [[name, *(f"{report[k]['steps_us'][name]:.1f}" for k in keys)] for name in names]
    rows.append(["one whole message", *(f"{report[k]['total_us']:.1f}" for k in keys)])
    rows.append(
        ["log records per 100 good messages",
         *(str(report[k]["log_records_per_100_messages"]) for k in keys)]
    )  # fmt: skip
    headers = [k.replace("steps_before_", "before, ").replace("steps_", "after, ") for k in keys]
    lines += table(["step", *headers], rows)
    flows = [db for db in _dbs(report, "flow_")]
    if flows:
        lines.append(
            "\n### The same steps in the flow (`floor_flow.py`, µs, median per message)\n\n"
            "Each step timed as the view calls it, inside whole messages through the WSGI "
            "handler (each step colder than in the hot loop above); the last row is the rest "
            "of the message: Django's request handling and the view's own lines.\n"
        )
        steps = list(report[f"flow_{flows[0]}"]["flow_us"])
        rows = [[name, *(f"{report[f'flow_{db}']['flow_us'][name]:.1f}" for db in flows)]
                for name in steps]  # fmt: skip
        for label, key in (("ours, instrumented", None), ("ours", "ours"),
                           ("the floor", "floor"), ("empty Django view", "noop")):  # fmt: skip
            rows.append([
                f"whole message: {label}",
                *(f"{report[f'flow_{db}']['instrumented_us']:.1f}" if key is None
                  else f"{report[f'flow_{db}']['plain_us'][key]:.1f}" for db in flows),
            ])  # fmt: skip
        lines += table(["step", *flows], rows)
    return "\n".join(lines) + "\n"


def _ratio(run: dict, key: str) -> str:
    """``run[key]`` as a ratio; n/a when the run did not measure it (that floor left out by
    ``--only``, the sqlite3 floor on PostgreSQL, runs before the column existed)."""
    ratio = run.get(key)
    return "n/a" if ratio is None else f"{ratio:.2f}×"
