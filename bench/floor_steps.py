"""Child process: where one good message's time goes, step by step (ours, in-process).

    python bench/floor_steps.py --db sqlite:/tmp/s.sqlite3
    python bench/floor_steps.py --db postgres:bench_floor_steps

Each step of the message path is timed alone, as the view calls it, on the request of
``floor.py`` (median of 7 runs of ``--loops`` calls, µs per call): Django's request setup and
response (an empty view through the same ``WSGIHandler``), the header checks (secret, then the
``X-Ws-*`` contract), the JSON parse with the envelope, the route lookup, the session query,
the login-binding check, the schema validation, the handler call and the reply encoding. The
log records a good message emits are counted (none is expected). ``total`` is one whole message
through the WSGI handler, for comparison with the sum. Prints ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import common
import floor
import floor_views

urlpatterns: list[Any] = []


class _Body:
    """Enough of a request for ``ParsedMessage.parse``: META and ``read``."""

    def __init__(self, meta: dict[str, str], body: bytes) -> None:
        self.META = {**meta, "CONTENT_LENGTH": str(len(body))}
        self._body = body

    def read(self, size: int = -1) -> bytes:
        return self._body


def per_call(fn: Callable[[], Any], loops: int) -> float:
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        runs.append((time.perf_counter() - started) * 1e6 / loops)
    return round(statistics.median(runs), 2)


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--loops", type=int, default=2000)
    args = parser.parse_args()
    requests = floor.start(args.db, __name__, urlpatterns)
    from django.core.handlers.wsgi import WSGIRequest

    from ws_routes.contract import SECRET_HEADER, meta_key
    from ws_routes.message_parsing import ParsedMessage
    from ws_routes.replies import reply_response
    from ws_routes.requests import acting_user_pk
    from ws_routes.security import bound_user, gateway_secret_is_valid
    from ws_routes.session_query import open_session_query
    from ws_routes.validation import validated_body
    from ws_routes.views import _call, parse_gateway_event

    poster = floor.Poster()
    good = requests["ours"]
    router = floor_views.ROUTERS["ws"]
    request = WSGIRequest(poster.environ(good))
    secret = request.META[meta_key(SECRET_HEADER)]
    message = ParsedMessage(router.route_selection_key)
    body = message.parse(_Body(good["meta"], good["body"]))
    route = router.resolve("chat.send")
    session = open_session_query.get(floor_views.CONNECTION_ID)

    def handler_call() -> Any:
        token = acting_user_pk.set(None)
        try:
            return _call(route.handler, request, body)
        finally:
            acting_user_pk.reset(token)

    def parse() -> Any:
        return ParsedMessage(router.route_selection_key).parse(_Body(good["meta"], good["body"]))

    loops = args.loops
    counter = _Count()
    logging.getLogger("ws_routes").addHandler(counter)
    for _ in range(100):
        poster.post(good)
    records = counter.records
    steps = {
        "Django request setup + response (empty view)": per_call(
            lambda: poster.post(requests["noop"]), loops
        ),
        "header checks (secret)": per_call(lambda: gateway_secret_is_valid(secret), loops),
        "header checks (X-Ws-* contract)": per_call(lambda: parse_gateway_event(request), loops),
        "JSON parse + envelope": per_call(parse, loops),
        "route lookup": per_call(lambda: router.resolve("chat.send"), loops),
        "session query": per_call(lambda: open_session_query.get(floor_views.CONNECTION_ID), loops),
        "binding check": per_call(lambda: bound_user(session), loops),
        "validation": per_call(lambda: validated_body(route, body), loops),
        "handler call": per_call(handler_call, loops),
        "reply encoding": per_call(lambda: reply_response(message.envelope, {"ok": True}), loops),
    }
    total = per_call(lambda: poster.post(good), loops)
    common.emit(
        {
            "db": args.db.partition(":")[0],
            "ws_routes": __import__("ws_routes").__file__,
            "steps_us": steps,
            "sum_of_steps_us": round(sum(steps.values()), 1),
            "total_us": total,
            "log_records_per_100_messages": records,
        }
    )


if __name__ == "__main__":
    main()
