"""What ``ws_routes.aws_lambda.handler`` does with an event, once Django is set up.

Checks the event (``lambda_events``), refuses a gateway that is not the project's, builds the
request and runs it through Django's own handler: the project's middleware, the mounted router's
view, ``request_finished``. Import ``ws_routes.aws_lambda`` (it sets Django up first), not this.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler

from .conf import ws_setting
from .contract import lambda_gateway_entry
from .errors import WsError
from .lambda_events import build_environ, parse_event
from .replies import error_response
from .routing import Router
from .routing import router as default_router

logger = logging.getLogger("ws_routes")

LambdaResult = dict[str, Any]

_LITERAL_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")
#: Seconds the ApiGateway rows are trusted; an unknown apiId/stage re-reads them at most every
#: ROWS_MISS_REFRESH seconds (a gateway created after the container started).
ROWS_TTL = 60.0
ROWS_MISS_REFRESH = 10.0


# -- which gateways may drive this function ---------------------------------------------------

_rows: dict[str, Any] = {"entries": frozenset(), "loaded_at": None}
_mounts: dict[tuple[Any, Router | None], tuple[str, Router]] = {}
_reported: set[str] = set()


def reset_gateway_cache() -> None:
    """Forget the ``ApiGateway`` rows and router mounts read so far (tests; a container never
    needs to: its URLconf does not change)."""
    _rows.update(entries=frozenset(), loaded_at=None)
    _mounts.clear()


def _load_rows() -> None:
    from .models import ApiGateway

    rows = ApiGateway.objects.exclude(api_id="").values_list("api_id", "stage_name")
    _rows.update(entries=frozenset(rows), loaded_at=time.monotonic())


def gateway_allowed(api_id: str, stage: str) -> bool:
    """Whether this function answers events of ``api_id``/``stage`` (checked before any query
    when ``LAMBDA_GATEWAYS`` is set; otherwise the rows, read at most once a minute)."""
    configured = ws_setting("LAMBDA_GATEWAYS")
    if configured is not None:
        entries = (
            [lambda_gateway_entry(entry) for entry in configured]
            if isinstance(configured, (list, tuple))
            else [None]
        )
        if None in entries:
            if "LAMBDA_GATEWAYS" not in _reported:
                _reported.add("LAMBDA_GATEWAYS")
                logger.error(
                    "WS_ROUTES['LAMBDA_GATEWAYS'] is malformed (manage.py check: ws_routes.E010): "
                    "every Lambda event is refused until it is fixed."
                )
            return False
        return (api_id, None) in entries or (api_id, stage) in entries
    loaded_at = _rows["loaded_at"]
    age = None if loaded_at is None else time.monotonic() - loaded_at
    missed = age is not None and (api_id, stage) not in _rows["entries"]
    if age is None or age > ROWS_TTL or (missed and age > ROWS_MISS_REFRESH):
        _load_rows()
    return (api_id, stage) in _rows["entries"]


# -- the request -------------------------------------------------------------------------------

_wsgi: list[WSGIHandler] = []


def _literal(pattern: Any) -> str | None:
    """A URL pattern's fixed path (``"ws/"``), or None if it has converters or regex syntax."""
    from django.urls.resolvers import RegexPattern, RoutePattern

    if isinstance(pattern, RoutePattern):
        text = str(pattern)
        return None if "<" in text else text
    if isinstance(pattern, RegexPattern):
        text = str(pattern).removeprefix("^").removesuffix("$").removesuffix(r"\Z")
        return text if _LITERAL_PATH.fullmatch(text) else None
    return None


def mounted_path(router: Router | None = None) -> str:
    """The path where ``router``'s view is mounted (``"/ws/"``), found in ``ROOT_URLCONF``.

    ``None``: the default router's mount, else the only router mounted.
    """
    return mounted_router(router)[0]


def mounted_router(router: Router | None = None) -> tuple[str, Router]:
    """``(path, router)`` of :func:`mounted_path` (what ``syncroutes`` deploys for a Lambda)."""
    key = (settings.ROOT_URLCONF, router)
    if key in _mounts:
        return _mounts[key]
    from django.urls import URLResolver, get_resolver

    found: list[tuple[str, Router]] = []

    def walk(patterns: Any, prefix: str) -> None:
        for entry in patterns:
            piece = _literal(entry.pattern)
            if piece is None:
                continue
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + piece)
            elif isinstance(getattr(entry.callback, "ws_router", None), Router):
                found.append((prefix + piece, entry.callback.ws_router))

    walk(get_resolver().url_patterns, "/")
    wanted = router if router is not None else default_router
    mounts = [(path, mounted) for path, mounted in found if mounted is wanted]
    if not mounts and router is None and len({id(mounted) for _, mounted in found}) == 1:
        mounts = found[:1]
    if not mounts:
        raise ImproperlyConfigured(
            "ws_routes.aws_lambda found no router mounted at a fixed path in ROOT_URLCONF: "
            "include(router.urls) there, or use make_handler(router, path='/ws/')."
        )
    _mounts[key] = mounts[0]
    return mounts[0]


def _run(environ: dict[str, Any]) -> LambdaResult:
    if not _wsgi:
        _wsgi.append(WSGIHandler())  # loads the middleware once per container
    status: list[int] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        status.append(int(line.split(" ", 1)[0]))
        return lambda data: None

    response = _wsgi[0](environ, start_response)
    try:
        content = b"".join(response)
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            close()  # request_finished: what closes an old database connection
    try:
        body = content.decode("utf-8")
    except UnicodeDecodeError:
        logger.error("The view's answer is not UTF-8: replaced characters it cannot encode")
        body = content.decode("utf-8", "replace")
    return {"statusCode": status[0], "body": body}


def _error(error: WsError) -> LambdaResult:
    response = error_response(error)
    return {"statusCode": response.status_code, "body": response.content.decode("utf-8")}


def invoke(
    event: Any, context: Any = None, *, router: Router | None = None, path: str | None = None
) -> LambdaResult:
    """Handle one Lambda event; never raises (a failure is logged and answered with a 5xx)."""
    request_id = getattr(context, "aws_request_id", "-")
    try:
        checked = parse_event(event)
    except WsError as error:
        if error.code == "bad_event":
            logger.error("Lambda event refused (invocation %s): %s", request_id, error.message)
        return _error(error)
    except Exception:
        logger.exception("Lambda event could not be read (invocation %s)", request_id)
        return _error(WsError("bad_event", "The event could not be read", status=400))
    try:
        if not gateway_allowed(checked.api_id, checked.stage):
            logger.warning(
                "Lambda event from API %s stage %s refused: not one of this project's gateways "
                "(WS_ROUTES['LAMBDA_GATEWAYS'] or the ApiGateway rows)",
                checked.api_id,
                checked.stage,
            )
            refused = WsError("forbidden", "This function only answers its gateways", status=403)
            return _error(refused)
        return _run(build_environ(checked, path or mounted_path(router)))
    except Exception:
        logger.exception("Lambda %s event failed (invocation %s)", checked.kind, request_id)
        return _error(
            WsError("internal_error", "The server failed to handle this event", status=500)
        )


def make_handler(
    router: Router | None = None, *, path: str | None = None
) -> Callable[[Any, Any], LambdaResult]:
    """A Lambda handler for ``router`` (mounted at ``path``, found in the URLconf when None)."""

    def lambda_handler(event: Any, context: Any) -> LambdaResult:
        return invoke(event, context, router=router, path=path)

    return lambda_handler


def handler(event: Any, context: Any) -> LambdaResult:
    """The Lambda entry point: ``ws_routes.aws_lambda.handler`` (the default router's mount)."""
    return invoke(event, context)
