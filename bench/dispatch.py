"""Child process: messages/s and SQL queries per message for one schema-validated route.

    python bench/dispatch.py --lib ours  --db sqlite:/tmp/d.sqlite3 --messages 3000
    python bench/dispatch.py --lib ref   --db postgres:ws_bench_ref
    python bench/dispatch.py --lib floor --db sqlite:/tmp/d.sqlite3
    python bench/dispatch.py --lib floor-query --db sqlite:/tmp/d.sqlite3

Every message goes through Django's test ``Client`` in-process (no server, no network), with
no middleware, exactly as API Gateway's integration would post it to each library:

- ours: the router's view, route ``chat.send`` with a JSON Schema, headers of DESIGN.md;
- ref: a ``WebSocketView`` subclass whose ``chat_send`` method validates the same schema with a
  pre-built jsonschema validator (the reference has no schema support of its own), headers and
  gateway secret as it requires;
- floor: a plain Django view returning the same JSON, the cost of Django and the test client;
- floor-query: the same plain view running, with the ORM, the one session query ours runs
  (``select_related("user")``, open session by connection id): what a message costs at least
  when it must look up its session.

``wsgi_dispatch.py`` serves the same views (``BUILDERS``) through gunicorn.

Prints ``RESULT {json}``: messages/s over ``--messages`` and SQL queries per message (counted
over 50 more, with a debug cursor).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import common

SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
}
CONNECTION_ID = "Dispatch0000001AbCdEfGh="
urlpatterns: list = []


def build_ours():
    from django.urls import include, path

    from ws_routes import Router

    router = Router()

    @router.route("chat.send", schema=SCHEMA)
    def chat_send(request, body):
        return {"ok": True}

    from ws_routes.models import WebSocketSession

    WebSocketSession.objects.create(
        connection_id=CONNECTION_ID, channel_name="lobby", api_id=common.API_ID, stage=common.STAGE
    )
    from ws_routes.contract import event_headers, meta_key

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
    body = {"action": "chat.send", "text": "hello"}
    return [path("ws/", include(router.urls))], "/ws/", body, headers


def build_ref():
    import jsonschema
    from django.http import JsonResponse
    from django.urls import path
    from django_aws_api_gateway_websockets.models import ApiGateway, WebSocketSession
    from django_aws_api_gateway_websockets.views import WebSocketView

    validator = jsonschema.Draft202012Validator(SCHEMA)

    class BenchView(WebSocketView):
        def chat_send(self, request, *args, **kwargs):
            errors = [e.message for e in validator.iter_errors(self.body)]
            if errors:
                return JsonResponse({"errors": errors}, status=400)
            return JsonResponse({"ok": True})

    gateway = ApiGateway.objects.create(
        api_name="bench", api_id=common.API_ID, stage_name=common.STAGE, api_created=True
    )
    WebSocketSession.objects.create(
        connection_id=CONNECTION_ID, channel_name="lobby", api_gateway=gateway
    )
    headers = {
        "HTTP_HOST": "testserver",
        "HTTP_X_WS_GATEWAY_SECRET": common.GATEWAY_SECRET,
        "HTTP_CONNECTIONID": CONNECTION_ID,
        "HTTP_X_AMZN_APIGATEWAY_API_ID": common.API_ID,
        "HTTP_USER_AGENT": "Mozilla/5.0",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_PORT": "443",
        "HTTP_X_REAL_IP": "203.0.113.7",
        "HTTP_X_AMZN_TRACE_ID": "Root=1-bench",
    }
    body = {"action": "chat_send", "text": "hello"}
    return [path("ws/<slug:route>", BenchView.as_view())], "/ws/default", body, headers


def build_floor():
    from django.http import JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def plain(request):
        json.loads(request.body)
        return JsonResponse({"ok": True})

    return [path("plain/", plain)], "/plain/", {"action": "chat.send", "text": "hello"}, {}


def build_floor_query() -> tuple[list, str, dict, dict[str, str]]:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from ws_routes.contract import CONNECTION_ID_HEADER, meta_key
    from ws_routes.models import WebSocketSession

    WebSocketSession.objects.create(
        connection_id=CONNECTION_ID, channel_name="lobby", api_id=common.API_ID, stage=common.STAGE
    )

    @csrf_exempt
    def plain_with_query(request: HttpRequest) -> JsonResponse:
        json.loads(request.body)
        connection_id = request.headers[CONNECTION_ID_HEADER]
        # ours's query as the ORM writes it (ws_routes.session_query.OpenSessionQuery.orm_query)
        found = list(
            WebSocketSession.objects.select_related("user").filter(
                connection_id=connection_id, connected=True
            )[:1]
        )
        if not found:
            return JsonResponse({"error": "no session"}, status=410)
        return JsonResponse({"ok": True})

    headers = {meta_key(CONNECTION_ID_HEADER): CONNECTION_ID}
    body = {"action": "chat.send", "text": "hello"}
    return [path("plain/", plain_with_query)], "/plain/", body, headers


BUILDERS = {
    "floor": build_floor,
    "floor-query": build_floor_query,
    "ours": build_ours,
    "ref": build_ref,
}
CONTENDERS = tuple(BUILDERS)


def settings_for(lib: str) -> str:
    """Which library's settings a contender runs with: the floors use ours (its model)."""
    return lib if lib in common.LIBS else "ours"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=CONTENDERS, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()

    common.configure(settings_for(args.lib), args.db, urlconf="__main__")
    patterns, url, body, headers = BUILDERS[args.lib]()
    urlpatterns.extend(patterns)
    sys.modules["__main__"].urlpatterns = urlpatterns

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    raw = json.dumps(body).encode()

    def post():
        response = client.post(url, raw, content_type="application/json", **headers)
        if response.status_code != 200:
            raise SystemExit(f"{args.lib}: {response.status_code} {response.content[:300]!r}")
        return response

    reply = post()
    for _ in range(200):  # warm-up: imports, caches, prepared statements
        post()

    started = time.perf_counter()
    for _ in range(args.messages):
        post()
    elapsed = time.perf_counter() - started

    sample = 50
    with CaptureQueriesContext(connection) as queries:
        for _ in range(sample):
            post()
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    common.emit(
        {
            "lib": args.lib,
            "db": args.db.partition(":")[0],
            "messages": args.messages,
            "messages_per_second": round(args.messages / elapsed, 1),
            "ms_per_message": round(elapsed * 1000 / args.messages, 3),
            "queries_per_message": round(len(queries.captured_queries) / sample, 2),
            "writes_per_message": round(len(writes) / sample, 2),
            "reply": reply.content.decode()[:200],
        }
    )


if __name__ == "__main__":
    main()
