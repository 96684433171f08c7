"""Child process: where a good message's time goes *in the flow* (ours, in-process).

    python bench/floor_flow.py --db sqlite:/tmp/s.sqlite3

``floor_steps.py`` times each step alone, in a hot loop: its figures are what the code costs
warm. In a real request the steps run one after the other, each colder, and the sum is well
above the hot figures. This times each step as the view calls it: the view's own module
globals (``ws_routes.views``) are wrapped with a clock, so the code measured is the code that
runs; messages are posted through the WSGI handler, interleaved with the floor and the empty
view as in ``floor.py``. The wrappers add their own cost (reported: ``instrumented`` against
``plain``). "Django and the view's own lines" is the whole message minus the timed steps.
Prints ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import common
import floor

urlpatterns: list[Any] = []

#: (label, owner, attribute): the calls of ``views.handle_message`` and its caller, in order.
STEPS = (
    ("header checks (secret)", "views", "gateway_secret_is_valid"),
    ("header checks (X-Ws-* contract)", "views", "parse_gateway_event"),
    ("JSON parse + envelope", "ParsedMessage", "parse"),
    ("route lookup", "Router", "resolve"),
    ("session query", "open_session_query", "get"),
    ("binding check", "views", "bound_user"),
    ("validation", "views", "validated_body"),
    ("reply encoding", "views", "reply_response"),
)


def instrument(samples: dict[str, list[int]]) -> Callable[[], None]:
    """Wrap every step of ``STEPS`` with a clock; returns the function that unwraps them."""
    from ws_routes import views
    from ws_routes.message_parsing import ParsedMessage
    from ws_routes.routing import Router

    owners = {
        "views": views,
        "ParsedMessage": ParsedMessage,
        "Router": Router,
        "open_session_query": views.open_session_query,
    }
    clock = time.perf_counter_ns
    undo = []
    for label, owner_name, attribute in STEPS:
        owner = owners[owner_name]
        original = getattr(owner, attribute)
        bucket = samples.setdefault(label, [])

        def timed(*args: Any, _fn: Any = original, _bucket: Any = bucket, **kwargs: Any) -> Any:
            started = clock()
            try:
                return _fn(*args, **kwargs)
            finally:
                _bucket.append(clock() - started)

        # An instance's method is its class's: unwrapping deletes the instance attribute.
        had_own = isinstance(owner, type) or attribute in vars(owner)
        setattr(owner, attribute, timed)
        undo.append((owner, attribute, original, had_own))

    def restore() -> None:
        for owner, attribute, original, had_own in reversed(undo):
            if had_own:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)

    return restore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    requests = floor.start(args.db, __name__, urlpatterns)
    poster = floor.Poster()
    floor.verify(poster, {name: requests[name] for name in ("noop", "floor", "ours")})
    names = ("noop", "floor", "ours")
    for name in names:
        poster.time_many(requests[name], 300)
    plain = floor.measure(poster, {name: requests[name] for name in names}, 3, args.messages)
    samples: dict[str, list[int]] = {}
    restore = instrument(samples)
    try:
        timed = floor.measure(poster, {"ours": requests["ours"]}, 3, args.messages)
    finally:
        restore()
    steps = {label: round(statistics.median(samples[label]) / 1000, 2) for label, _, _ in STEPS}
    instrumented = statistics.median(timed["ours"])
    medians = {name: statistics.median(plain[name]) for name in names}
    steps["Django and the view's own lines"] = round(instrumented - sum(steps.values()), 1)
    common.emit(
        {
            "db": args.db.partition(":")[0],
            "flow_us": steps,
            "instrumented_us": round(instrumented, 1),
            "plain_us": {name: round(value, 1) for name, value in medians.items()},
        }
    )


if __name__ == "__main__":
    main()
