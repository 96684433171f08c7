"""The reference's URL layout: ``path("ws/<slug:route>", View.as_view())``, target ``.../ws/``.

There ``target_base_endpoint`` is the prefix the reference appended a route slug to
(``.../ws/connect``, ``.../ws/default``), so the base URL itself is served by nothing. Our view
tells events apart by the ``X-Ws-Event`` header, so any slug reaches it; this module finds the
router behind such a prefix and names the URLs the integrations should call: ``connect`` for
``$connect`` and ``default`` for the rest, the slugs the reference's view expected.

Example: with the layout above, ``integration_uris("https://x.com/ws/")`` is
``("https://x.com/ws/default", "https://x.com/ws/connect")``; with ``path("ws/",
include(router.urls))`` it is ``("https://x.com/ws/", "https://x.com/ws/")``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.urls import Resolver404, ResolverMatch, get_script_prefix, resolve

from ..routing import Router

#: The slugs the reference's integrations appended to ``target_base_endpoint``.
MESSAGE_SLUG = "default"
CONNECT_SLUG = "connect"


def resolve_public_path(path: str) -> ResolverMatch | None:
    """What serves ``path`` of a public URL, with or without the script prefix; else ``None``.

    Example: ``resolve_public_path("/ws/").func.ws_router`` for a mounted router.
    """
    candidates = [path]
    prefix = get_script_prefix()
    if prefix != "/" and path.startswith(prefix):
        candidates.append("/" + path[len(prefix) :])
    for candidate in candidates:
        try:
            return resolve(candidate)
        except Resolver404:
            continue
    return None


def _router_at(path: str) -> Router | None:
    match = resolve_public_path(path)
    router = getattr(match.func, "ws_router", None) if match is not None else None
    return router if isinstance(router, Router) else None


def reference_layout_router(base_url: str) -> Router | None:
    """The router behind ``base_url + "default"`` when ``base_url`` is a reference-style prefix.

    ``None`` if ``base_url`` does not end with ``/``, or if both slugs do not reach the same
    ws_routes gateway view (then the layout is not the reference's, and the caller's own error
    about the base URL stands).
    """
    path = urlsplit(base_url).path or "/"
    if not path.endswith("/"):
        return None
    router = _router_at(path + MESSAGE_SLUG)
    if router is None or _router_at(path + CONNECT_SLUG) is not router:
        return None
    return router


def integration_uris(base_url: str) -> tuple[str, str]:
    """``(router integration URI, $connect integration URI)`` for ``target_base_endpoint``.

    The base URL itself when it is served (our layout), else the reference's slugs under it
    when :func:`reference_layout_router` finds a router there.
    """
    path = urlsplit(base_url).path or "/"
    if _router_at(path) is None and reference_layout_router(base_url) is not None:
        return base_url + MESSAGE_SLUG, base_url + CONNECT_SLUG
    return base_url, base_url
