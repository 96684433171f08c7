"""The AsyncAPI document of a router, served to staff: JSON, YAML and a readable HTML page.

Mounted with its own include, next to the router::

    from ws_routes.asyncapi import asyncapi_urls

    urlpatterns = [
        path("ws/", include(router.urls)),
        path("ws/asyncapi/", include(asyncapi_urls(router))),   # staff only
    ]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from ..routing import Router
from .document import build_document
from .yaml import to_yaml

View = Callable[..., HttpResponseBase]


def staff_only(view: View) -> View:
    """Anonymous: redirect to the login page; logged in but not active staff: 403."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        from django.contrib.auth.views import redirect_to_login  # needs the apps loaded

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            return HttpResponse("Staff only.", status=403, content_type="text/plain")
        return view(request, *args, **kwargs)

    wrapped.__name__ = wrapped.__qualname__ = getattr(view, "__name__", "view")
    return wrapped


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations with their messages resolved, for the template."""
    messages = document["channels"]["socket"]["messages"]

    def resolve(ref: dict[str, str]) -> dict[str, Any]:
        message = messages[ref["$ref"].rsplit("/", 1)[1]]
        return {**message, "payload_json": json.dumps(message["payload"], indent=2)}

    rows = []
    for key, operation in document["operations"].items():
        reply = operation.get("reply", {}).get("messages", [])
        rows.append(
            {
                "id": key,
                **operation,
                "resolved": [resolve(ref) for ref in operation["messages"]],
                "replies": [resolve(ref) for ref in reply],
            }
        )
    return rows


def asyncapi_urls(router: Router, **document_options: Any) -> tuple[list[Any], str]:
    """``(urlpatterns, app_name)`` serving ``router``'s document: ``""`` (HTML), ``asyncapi.json``,
    ``asyncapi.yaml``; URL names ``asyncapi``, ``asyncapi-json``, ``asyncapi-yaml``."""

    def document() -> dict[str, Any]:
        return build_document(router, **document_options)

    @require_GET
    @staff_only
    def as_json(request: HttpRequest) -> HttpResponse:
        text = json.dumps(document(), indent=2, ensure_ascii=False)
        return HttpResponse(text, content_type="application/json; charset=utf-8")

    @require_GET
    @staff_only
    def as_yaml(request: HttpRequest) -> HttpResponse:
        return HttpResponse(to_yaml(document()), content_type="application/yaml; charset=utf-8")

    @require_GET
    @staff_only
    def as_html(request: HttpRequest) -> HttpResponse:
        doc = document()
        context = {
            "document": doc,
            "servers": doc["servers"],
            "operations": _operations(doc),
            "channels": {k: v for k, v in doc["channels"].items() if k != "socket"},
        }
        return render(request, "ws_routes/asyncapi.html", context)

    patterns = [
        path("", as_html, name="asyncapi"),
        path("asyncapi.json", as_json, name="asyncapi-json"),
        path("asyncapi.yaml", as_yaml, name="asyncapi-yaml"),
    ]
    return patterns, f"{router.app_name}_asyncapi"
