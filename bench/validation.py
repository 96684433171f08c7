"""Child process: what validating one message costs, jsonschema vs Pydantic, on the same schema.

    python bench/validation.py --db sqlite:/tmp/v.sqlite3 --messages 3000

Two measurements per validator, the same ``chat.send`` schema written twice (a JSON Schema dict
and a Pydantic model with the same constraints):

- ``check``: the validator alone (``route.validator.check``), µs per call, for a valid and an
  invalid body;
- ``view``: whole messages through the router's view (as ``dispatch.py``; best of three
  alternating rounds), messages/s and SQL
  queries and writes per message -- the one-query, no-write budget must hold for both.

Prints ``RESULT {json}``. Without Pydantic installed the Pydantic rows are missing, not faked.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import common

SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
}
VALID = {"text": "hello"}
INVALID = {"text": ""}
CONNECTION_ID = "Validate0000001AbCdEfGh="
urlpatterns: list = []


def pydantic_model() -> Any:
    try:
        from pydantic import BaseModel, Field
    except ImportError:
        return None

    class ChatSend(BaseModel):
        text: str = Field(min_length=1, max_length=500)

    return ChatSend


def time_check(validator: Any, body: dict, calls: int) -> float:
    """µs per ``validator.check(body)``, best of three runs."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            validator.check(body)
        best = min(best, time.perf_counter() - started)
    return round(best * 1e6 / calls, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    common.configure("ours", args.db, urlconf="__main__")

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import include, path

    from ws_routes import Router
    from ws_routes.contract import event_headers, meta_key
    from ws_routes.models import WebSocketSession

    schemas = {"jsonschema": SCHEMA}
    model = pydantic_model()
    if model is not None:
        schemas["pydantic"] = model
    router = Router()
    for name, schema in schemas.items():
        router.route(f"{name}.send", schema=schema)(lambda request, body: {"ok": True})
    urlpatterns.append(path("ws/", include(router.urls)))
    WebSocketSession.objects.create(
        connection_id=CONNECTION_ID, channel_name="lobby", api_id=common.API_ID, stage=common.STAGE
    )
    contract = event_headers(
        secret=common.GATEWAY_SECRET,
        connection_id=CONNECTION_ID,
        event="MESSAGE",
        route="$default",
        source_ip="203.0.113.7",
        request_id="req-1",
        api_id=common.API_ID,
        stage=common.STAGE,
    )
    headers = {meta_key(name): value for name, value in contract.items()}
    client = Client()

    def poster(name: str) -> Any:
        raw = json.dumps({"action": f"{name}.send", **VALID}).encode()

        def post() -> None:
            response = client.post("/ws/", raw, content_type="application/json", **headers)
            if response.status_code != 200:
                raise SystemExit(f"{name}: {response.status_code} {response.content[:300]!r}")

        return post

    posts = {name: poster(name) for name in schemas}
    for post in posts.values():
        for _ in range(200):  # warm-up: imports, caches, prepared statements
            post()
    # Rounds alternate between the validators so drift on a shared machine hits both alike.
    best = dict.fromkeys(schemas, float("inf"))
    for _ in range(3):
        for name, post in posts.items():
            started = time.perf_counter()
            for _ in range(args.messages):
                post()
            best[name] = min(best[name], time.perf_counter() - started)
    rows = []
    for name, post in posts.items():
        route = router.routes[f"{name}.send"]
        with CaptureQueriesContext(connection) as queries:
            for _ in range(50):
                post()
        writes = [q for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
        rows.append(
            {
                "validator": name,
                "check_valid_us": time_check(route.validator, VALID, 20_000),
                "check_invalid_us": time_check(route.validator, INVALID, 20_000),
                "messages_per_second": round(args.messages / best[name], 1),
                "queries_per_message": round(len(queries.captured_queries) / 50, 2),
                "writes_per_message": round(len(writes) / 50, 2),
            }
        )
    common.emit({"db": args.db.partition(":")[0], "messages": args.messages, "rows": rows})


if __name__ == "__main__":
    main()
