"""The views and requests of the one-round-trip floor (``floor.py``), ours beside it.

The **floor** is what a message costs at least in this design: the same Django (settings,
middleware), the same request (path aside: headers and body byte for byte), a strict JSON parse
of the body, exactly one ``cursor.execute`` of the very SQL text our message query sends (taken
from the ORM at start-up, ``OpenSessionQuery.orm_query``) and ``fetchone``, and the same reply
encoding (``ws_routes.replies.encode_json``). Nothing else: no secret check, no header checks,
no routing, no validation. ``floor.py`` checks at start-up that the floor does exactly that
much work (one query, the same SQL as ours, the same reply) and stops loudly otherwise.

``build()`` mounts, in one URLconf: ``/floor/`` and ``/ws/`` (ours, route ``chat.send`` with
a JSON Schema), both through ``include`` (as the README mounts ours), ``/floor-flat/`` (the
floor at the top level), ``/floor-direct/`` (on SQLite: the floor without Django's per-call
``%s``-to-``?`` rewrite, as ours runs), ``/noop/`` (an empty view: Django's own cost), and the
flat-cost variants (``/ws-routes-N/`` with N registered routes, ``/ws/`` with sockets in N
channels, ``doc.put`` with bodies of N KiB).
"""

from __future__ import annotations

import json
from typing import Any

import common

SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
}
#: A typical schema for the body-size rows: a list of small records.
DOC_SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "text"],
                "properties": {
                    "id": {"type": "integer", "minimum": 0},
                    "text": {"type": "string", "maxLength": 200},
                },
                "additionalProperties": False,
            },
        }
    },
}
CONNECTION_ID = "Floor00000000001AbCdEfGh="
ROUTE_COUNTS = (10, 100, 1000)
CHANNEL_COUNTS = (1, 10, 100)
BODY_KIB = (1, 32, 128)
#: ``BENCH_WSGI_LIB`` for wsgi_app.py: ours and the floor served by one gunicorn.
PAIR = "floor-pair"
FORGED_SECRET = "forged-secret-0123456789-abcdefghijklmnopqrstuv"


#: The routers ``build()`` mounted, by URL prefix (``floor_steps.py`` reads them).
ROUTERS: dict[str, Any] = {}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Built once, as a careful floor would: strict (no NaN/Infinity).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def connection_id_for(channels: int) -> str:
    return CONNECTION_ID if channels == 1 else f"Floor{channels:011d}AbCdEfGh="


def contract_headers(connection_id: str, secret: str = common.GATEWAY_SECRET) -> dict[str, str]:
    from ws_routes.contract import event_headers, meta_key

    contract = event_headers(
        secret=secret,
        connection_id=connection_id,
        event="MESSAGE",
        route="$default",
        source_ip="203.0.113.7",
        request_id="req-1",
        api_id=common.API_ID,
        stage=common.STAGE,
    )
    return {meta_key(name): value for name, value in contract.items()}


def session_sql(alias: str = "default") -> tuple[str, tuple[Any, ...], int]:
    """Our message query's SQL as the ORM writes it, its parameters, where the id goes."""
    from ws_routes.session_query import OpenSessionQuery

    sentinel = "\x00floor\x00"
    query = OpenSessionQuery.orm_query(alias, sentinel).query
    sql, params = query.get_compiler(using=alias).as_sql()
    return sql, tuple(params), tuple(params).index(sentinel)


def make_floor_view(sqlite_direct: bool = False) -> Any:
    """The floor; with ``sqlite_direct`` (SQLite only), the stricter floor that skips Django's
    per-call ``%s``-to-``?`` rewrite as ours does: the rewritten text goes to ``sqlite3``'s own
    ``execute``, except under the debug cursor (queries captured), which gets Django's path."""
    import sqlite3

    from django.db import connection
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper
    from django.db.backends.utils import CursorWrapper
    from django.http import HttpResponse
    from django.views.decorators.csrf import csrf_exempt

    from ws_routes.replies import encode_json

    sql, params, id_position = session_sql()
    meta_id = "HTTP_X_WS_CONNECTION_ID"
    direct_sql = SQLiteCursorWrapper.convert_query(None, sql) if sqlite_direct else None

    @csrf_exempt
    def floor(request: Any) -> HttpResponse:
        try:
            message = _DECODER.decode(request.read(128 * 1024 + 1).decode("utf-8"))
        except ValueError:
            return HttpResponse(b'{"error":"invalid_json"}', status=400)
        if not isinstance(message, dict):
            return HttpResponse(b'{"error":"invalid_message"}', status=400)
        bound = list(params)
        bound[id_position] = request.META.get(meta_id, "")
        with connection.cursor() as cursor:
            if direct_sql is not None and type(cursor) is CursorWrapper:
                sqlite3.Cursor.execute(cursor.cursor, direct_sql, bound)
                row = cursor.cursor.fetchone()
            else:
                cursor.execute(sql, bound)
                row = cursor.fetchone()
        if row is None:
            return HttpResponse(b'{"error":"unknown_connection"}', status=410)
        reply = {"action": message.get("action"), "data": {"ok": True}}
        return HttpResponse(encode_json(reply), content_type="application/json")

    return floor


def make_routers() -> dict[str, Any]:
    """The main router (``chat.send``, ``doc.put``) and one per ``ROUTE_COUNTS`` entry."""
    from ws_routes import Router

    def ok(request: Any, body: Any) -> Any:
        return {"ok": True}

    routers = {}
    main = Router(app_name="ws_main")
    main.add_route("chat.send", ok, schema=SCHEMA)
    main.add_route("doc.put", ok, schema=DOC_SCHEMA)
    routers["ws"] = main
    for count in ROUTE_COUNTS:
        router = Router(app_name=f"ws_routes_{count}")
        for index in range(count - 1):
            router.add_route(f"filler.route{index:04d}", ok, schema=SCHEMA)
        router.add_route("chat.send", ok, schema=SCHEMA)
        routers[f"ws-routes-{count}"] = router
    return routers


def seed() -> None:
    """One session per ``CHANNEL_COUNTS`` entry, subscribed to that many channels."""
    from ws_routes.models import Subscription, WebSocketSession

    for count in CHANNEL_COUNTS:
        session = WebSocketSession.objects.create(
            connection_id=connection_id_for(count),
            channel_name="lobby",
            api_id=common.API_ID,
            stage=common.STAGE,
        )
        Subscription.objects.bulk_create(
            Subscription(session=session, channel=f"room:{index}", slot=index)
            for index in range(count)
        )


def body_of(kib: int) -> bytes:
    """A ``doc.put`` message of exactly ``kib`` KiB that matches ``DOC_SCHEMA``."""
    size = kib * 1024
    items: list[dict[str, Any]] = []
    message = {"action": "doc.put", "items": items}
    while len(json.dumps(message).encode()) < size - 120:
        items.append({"id": len(items), "text": "x" * 60})
    encoded = json.dumps(message).encode()
    pad = size - len(encoded) - len(', "pad": ""')
    message["pad"] = "p" * pad  # additionalProperties is only forbidden inside items
    encoded = json.dumps(message).encode()
    assert len(encoded) == size, (len(encoded), size)
    return encoded


def build() -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """(urlpatterns, {name: request}) where a request is path, body (bytes), META, status."""
    from django.db import connection
    from django.http import HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def noop(request: Any) -> HttpResponse:
        return HttpResponse(b"{}", content_type="application/json")

    routers = make_routers()
    ROUTERS.update(routers)
    floor = make_floor_view()
    # The floor is mounted as ours is (``include`` of an app's patterns, one level down) and
    # just before it, so that Django's URL resolution costs both the same; "floor, flat" is
    # the floor at the top level too (Django's include costs a few µs: a project can mount
    # ``router.view`` flat as well).
    ours, *more_routers = [
        path(f"{name}/", include(router.urls)) for name, router in routers.items()
    ]
    # The stricter floor (SQLite only: where ours skips the rewrite) comes after ours, so that
    # ours' URL resolution costs what it did; it pays one failed pattern more than ours (its
    # ratio is, if anything, in ours' favour).
    direct = connection.vendor == "sqlite"
    direct_floor = [
        path("floor-direct/", include(([path("", make_floor_view(True), name="g")], "ws_fd")))
    ]
    urlpatterns = [
        path("floor/", include(([path("", floor, name="gateway")], "ws_floor"))),
        ours,
        *(direct_floor if direct else []),
        path("floor-flat/", floor),
        path("noop/", noop),
        *more_routers,
    ]
    seed()
    good = json.dumps({"action": "chat.send", "text": "hello"}).encode()
    headers = contract_headers(CONNECTION_ID)

    def request(path_: str, body: bytes, meta: dict[str, str], status: int) -> dict[str, Any]:
        return {"path": path_, "body": body, "meta": meta, "status": status}

    requests = {
        "noop": request("/noop/", good, headers, 200),
        "floor": request("/floor/", good, headers, 200),
        "floor, flat": request("/floor-flat/", good, headers, 200),
        "ours": request("/ws/", good, headers, 200),
        "forged secret": request("/ws/", good, contract_headers(CONNECTION_ID, FORGED_SECRET), 403),
        "malformed JSON": request("/ws/", b'{"action": "chat.send", "text": "hel', headers, 400),
        "unknown route": request(
            "/ws/", json.dumps({"action": "chat.nope", "text": "hello"}).encode(), headers, 400
        ),
    }
    if direct:
        requests["floor, sqlite3 direct"] = request("/floor-direct/", good, headers, 200)
    for count in ROUTE_COUNTS:
        requests[f"routes {count}"] = request(f"/ws-routes-{count}/", good, headers, 200)
    for count in CHANNEL_COUNTS:
        requests[f"channels {count}"] = request(
            "/ws/", good, contract_headers(connection_id_for(count)), 200
        )
    for kib in BODY_KIB:
        requests[f"body {kib} KiB"] = request("/ws/", body_of(kib), headers, 200)
    return urlpatterns, requests
