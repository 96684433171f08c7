"""Cold start of the Lambda entry point: ``import ws_routes.aws_lambda`` (which runs
``django.setup()``) plus the first event, in fresh interpreters, for the example chat.

``python bench/cold_start.py [--runs 10] [--write]``: the median and range of each step, in
milliseconds; ``--write`` appends them to bench/RESULTS.md. Python's own start-up is excluded
(the timing starts inside the child, as Lambda's init phase does after the runtime is up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time
began = time.perf_counter()
import ws_routes.aws_lambda as entry
imported = time.perf_counter()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0, run_syncdb=True)
from django.conf import settings
settings.WS_ROUTES["LAMBDA_GATEWAYS"] = ["coldstart1/local"]  # this event's API, allowed
event = {
    "requestContext": {
        "routeKey": "$disconnect", "eventType": "DISCONNECT", "connectionId": "Q29sZFN0YXJ0MDA=",
        "apiId": "coldstart1", "stage": "local", "domainName": "127.0.0.1",
        "requestId": "r1", "extendedRequestId": "r1", "requestTime": "06/Dec/2026:00:00:00 +0000",
        "messageDirection": "IN", "connectedAt": 0, "requestTimeEpoch": 0,
        "identity": {"sourceIp": "127.0.0.1"}, "disconnectStatusCode": 1000,
        "disconnectReason": "",
    },
    "headers": {}, "isBase64Encoded": False,
}
first = time.perf_counter()
result = entry.handler(event, None)
done = time.perf_counter()
print(json.dumps({"import_and_setup": imported - began, "first_event": done - first,
                  "status": result["statusCode"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "PYTHONPATH": str(ROOT),
            "CHAT_DATABASE": str(Path(folder) / "cold.sqlite3"),
            "CHAT_SECRET_KEY": "cold-start-" + "x" * 40,
            "CHAT_GATEWAY_SECRET": "cold-start-gateway-secret-0123456789",
            "CHAT_DEBUG": "0",
        }
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
            ).stdout
            samples.append(json.loads(out.strip().splitlines()[-1]))
    lines = [
        f"## Lambda cold start ({time.strftime('%Y-%m-%d')})",
        "",
        f"`python bench/cold_start.py --runs {args.runs}`: the example chat's settings (SQLite), "
        "`import ws_routes.aws_lambda` (which runs `django.setup()`) and then the first event "
        "(a `$disconnect` of an allowed API: it loads the middleware and the URLconf and runs "
        "the view's query) in a fresh interpreter "
        "each run, on this project's 2-core machine; Python's own start-up excluded.",
        "",
        "| step | median | min | max |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("import_and_setup", "import + django.setup()"),
        ("first_event", "first event"),
    ):
        values = [sample[key] * 1000 for sample in samples]
        lines.append(
            f"| {label} | {statistics.median(values):.0f} ms | {min(values):.0f} ms | "
            f"{max(values):.0f} ms |"
        )
    statuses = {sample["status"] for sample in samples}
    lines += [
        "",
        f"Status of the first event: {sorted(statuses)}. The migration that creates the "
        "throwaway database runs between the two steps and is not counted.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as file:
            file.write("\n" + text)


if __name__ == "__main__":
    main()
