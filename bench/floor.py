"""Child process: ours against the one-round-trip floor, interleaved, in-process (WSGI handler).

    python bench/floor.py --db sqlite:/tmp/f.sqlite3 --rounds 9 --messages 500
    python bench/floor.py --db postgres:bench_floor

Every message goes through Django's ``WSGIHandler`` (what gunicorn calls), with the settings
and (empty) middleware of every dispatch benchmark. ``floor_views`` defines the floor and the
requests. Before measuring, every request is posted once with queries captured, and the run
stops (exit status 1, saying why) unless:

- the floor and ours each run exactly one query, and it is the same SQL text (byte for byte),
  the ORM's own for our message query, and they answer the same reply;
- a forged secret, malformed JSON and an unknown route run no query and get their status;
- no request writes.

Then rounds: each round posts ``--messages`` of every request, one message of each in turn in
an order shuffled anew for each message (seeded), so ours and the floor share the machine's
noise and no request always follows the same one: with a fixed or rotating order each request
kept its predecessor, and two identical requests differed by 20% by where they sat in the list
(what the previous request left in the CPU's caches). Prints ``RESULT {json}``:
median µs per message of each request, and the median over rounds of ours / floor measured in
the same round.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from typing import Any

import common
import floor_views

urlpatterns: list[Any] = []
BASE_ENVIRON = {
    "REQUEST_METHOD": "POST",
    "SCRIPT_NAME": "",
    "SERVER_NAME": "testserver",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "testserver",
    "CONTENT_TYPE": "application/json",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}


class Poster:
    """Posts a request through Django's WSGI handler, as a WSGI server would."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()

    def environ(self, request: dict[str, Any]) -> dict[str, Any]:
        body = request["body"]
        return {
            **BASE_ENVIRON,
            **request["meta"],
            "PATH_INFO": request["path"],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }

    def post(self, request: dict[str, Any]) -> tuple[int, bytes]:
        statuses: list[str] = []
        result = self.handler(
            self.environ(request), lambda status, headers: statuses.append(status)
        )
        try:
            content = b"".join(result)
        finally:
            result.close()
        return int(statuses[0][:3]), content

    def time_many(self, request: dict[str, Any], count: int) -> float:
        """µs per message over ``count`` posts (statuses checked after the clock stops)."""
        handler, environ = self.handler, self.environ
        start_response = _discard
        environs = [environ(request) for _ in range(count)]
        started = time.perf_counter()
        for env in environs:
            handler(env, start_response).close()
        return (time.perf_counter() - started) * 1e6 / count


def _discard(status: str, headers: Any) -> None:
    return None


class WorkMismatch(SystemExit):
    pass


def verify(poster: Poster, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Post each request once, queries captured; stop loudly if any does other work than stated."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    expected_sql, _params, _position = floor_views.session_sql()
    seen: dict[str, Any] = {}
    for name, request in requests.items():
        with CaptureQueriesContext(connection) as captured:
            status, content = poster.post(request)
        queries = [query["sql"] for query in captured.captured_queries]
        seen[name] = {"status": status, "queries": queries, "reply": content.decode()[:200]}
        if status != request["status"]:
            raise WorkMismatch(
                f"{name}: status {status}, expected {request['status']}: {content!r}"
            )
        writes = [q for q in queries if not q.lstrip().upper().startswith("SELECT")]
        if writes:
            raise WorkMismatch(f"{name}: wrote: {writes}")
        wanted = 1 if request["status"] == 200 and name != "noop" else 0
        if len(queries) != wanted:
            raise WorkMismatch(f"{name}: {len(queries)} queries, expected {wanted}: {queries}")
    floor, ours = seen["floor"], seen["ours"]
    if floor["queries"] != ours["queries"]:
        raise WorkMismatch(f"floor and ours differ: {floor['queries']} != {ours['queries']}")
    for name in ("floor, flat", "floor, sqlite3 direct"):
        if name in seen and seen[name]["queries"] != floor["queries"]:
            raise WorkMismatch(f"{name} runs other SQL than the floor: {seen[name]['queries']}")
    # Interpolated by Django's debug cursor, so compare the text around the one parameter.
    head = expected_sql.split("%s")[0]
    if not floor["queries"][0].startswith(head):
        raise WorkMismatch(f"floor's SQL is not the ORM's: {floor['queries'][0]!r}")
    if floor["reply"] != ours["reply"]:
        raise WorkMismatch(f"replies differ: floor {floor['reply']!r}, ours {ours['reply']!r}")
    return seen


def measure(
    poster: Poster, requests: dict[str, dict[str, Any]], rounds: int, messages: int
) -> dict[str, list[float]]:
    """Per round, the median µs of each request's posts, posted in turn one message at a time
    (the order shuffled for each message, seeded), so that every request sees the same moments
    of the machine's load and the same mix of requests before it."""
    names = list(requests)
    shuffler = random.Random(24)
    handler, environ, start_response = poster.handler, poster.environ, _discard
    clock = time.perf_counter
    timings: dict[str, list[float]] = {name: [] for name in names}
    for _round in range(rounds):
        samples: dict[str, list[float]] = {name: [] for name in names}
        environs = {name: [environ(requests[name]) for _ in range(messages)] for name in names}
        for index in range(messages):
            order = names[:]
            shuffler.shuffle(order)
            for name in order:
                env = environs[name][index]
                started = clock()
                handler(env, start_response).close()
                samples[name].append(clock() - started)
        for name in names:
            timings[name].append(statistics.median(samples[name]) * 1e6)
    return timings


def quiet_logging() -> None:
    """Django's default logging (``LOGGING_CONFIG`` is off in every bench): with ``DEBUG``
    off, a 4xx's ``django.request`` warning reaches no console, as in production."""
    import logging.config

    from django.utils.log import DEFAULT_LOGGING

    logging.config.dictConfig(DEFAULT_LOGGING)


def start(db: str, urlconf: str, patterns: list[Any]) -> dict[str, dict[str, Any]]:
    """Configure Django for ours on ``db`` with ``urlconf`` (a module whose ``urlpatterns`` is
    ``patterns``), mount ``floor_views`` there and return its requests by name."""
    common.configure("ours", db, urlconf=urlconf)
    quiet_logging()
    built, requests = floor_views.build()
    patterns.extend(built)
    return requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--only", nargs="*", help="request names to measure (default: all)")
    args = parser.parse_args()
    requests = start(args.db, __name__, urlpatterns)
    poster = Poster()
    seen = verify(poster, requests)
    if args.only:
        requests = {name: requests[name] for name in args.only}
    for request in requests.values():  # warm-up: connections, caches, compiled plans
        poster.time_many(request, 50)
    timings = measure(poster, requests, args.rounds, args.messages)
    ratios = [o / f for o, f in zip(timings["ours"], timings["floor"], strict=True)]

    def ours_over(name: str) -> float | None:
        """ours / another floor, the median over rounds (None: not measured in this run)."""
        other = timings.get(name)  # absent when --only leaves it out, or not SQLite
        if not other:
            return None
        return round(
            statistics.median(o / f for o, f in zip(timings["ours"], other, strict=True)), 3
        )

    common.emit(
        {
            "db": args.db.partition(":")[0],
            "ws_routes": __import__("ws_routes").__file__,
            "server": "in-process (WSGIHandler)",
            "rounds": args.rounds,
            "messages": args.messages,
            "us_per_message": {name: round(statistics.median(t), 1) for name, t in timings.items()},
            "ours_over_floor": round(statistics.median(ratios), 3),
            "ours_over_floor_rounds": [round(r, 3) for r in ratios],
            "ours_over_flat_floor": ours_over("floor, flat"),
            "ours_over_direct_floor": ours_over("floor, sqlite3 direct"),
            "queries": {name: len(s["queries"]) for name, s in seen.items()},
            "sql": seen["floor"]["queries"][0],
        }
    )


if __name__ == "__main__":
    main()
