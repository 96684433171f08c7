"""``MOCK`` and non-proxy ``HTTP`` integrations: request templates and integration responses.

As the AWS developer guide documents them ("Set up a WebSocket API integration request",
"Data transformations for WebSocket APIs", "Set up a WebSocket API integration response"):

- The request template is chosen by the integration's ``templateSelectionExpression`` (a
  ``${request.body.path}`` or a static key), falling back to ``$default``. Without one,
  ``passthroughBehavior`` decides: ``WHEN_NO_MATCH`` (AWS's default) sends the payload as it
  is, ``NEVER`` refuses, ``WHEN_NO_TEMPLATES`` passes only when there are no templates.
- ``MOCK``: the rendered request must be JSON with an integer ``statusCode``; that status
  selects the integration response (else AWS logs "statusCode should be an integer which
  defined in request template" and fails the call: 500).
- Non-proxy ``HTTP``: the rendered request is the body POSTed to ``integrationUri``; the
  backend's status selects the integration response.
- Integration responses: ``integrationResponseKey`` ``/regex/`` matched against the status,
  else ``$default``; the chosen one's ``responseTemplates`` (by its own
  ``templateSelectionExpression``) render the reply, with ``$input.body`` = the backend's body
  (empty for ``MOCK``). No integration response, or one without templates: the body passes.
  The reply reaches the client only on a two-way route (a route response), as for proxies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from .integration import IntegrationError, IntegrationResponse
from .vtl import DEFAULT_KEY, TemplateRefused, parse, pick_template, render, select

logger = logging.getLogger("ws_routes.local_gateway")

#: Where an integration keeps its integration responses (internal: no output shape has it).
RESPONSES = "integrationResponses"

Context = Callable[[str], str | None]


def request_body(definition: Mapping[str, Any], body: str, context: Context) -> str:
    """The integration request's body: the selected template rendered, or the payload."""
    templates = definition.get("requestTemplates") or {}
    key = select(definition.get("templateSelectionExpression"), body)
    template = pick_template(templates, key)
    if template is None:
        behavior = definition.get("passthroughBehavior", "WHEN_NO_MATCH")
        if behavior == "NEVER" or (behavior == "WHEN_NO_TEMPLATES" and templates):
            logger.warning("no request template for key %r and passthrough %s", key, behavior)
            raise IntegrationError()
        return body
    return _rendered(template, body, context)


def _rendered(template: str, body: str, context: Context) -> str:
    try:
        return render(parse(template), body, context)
    except TemplateRefused as error:  # a state file written by hand: refused at create else
        logger.warning("mapping template not run: %s", error)
        raise IntegrationError() from None


def mock_status(rendered: str) -> int:
    """The ``statusCode`` a MOCK integration's rendered request template names."""
    try:
        document = json.loads(rendered)
    except (ValueError, RecursionError):
        document = None
    status = document.get("statusCode") if isinstance(document, dict) else None
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        logger.warning(
            "MOCK integration: Execution failed due to configuration error: statusCode should "
            "be an integer which defined in request template"
        )
        raise IntegrationError()
    return status


def select_response(definition: Mapping[str, Any], status: int) -> Mapping[str, Any] | None:
    """The integration response for ``status``: a matching ``/regex/`` key, else ``$default``."""
    responses = list((definition.get(RESPONSES) or {}).values())
    for response in responses:
        key = str(response.get("integrationResponseKey", ""))
        if len(key) >= 2 and key.startswith("/") and key.endswith("/"):
            try:
                if re.fullmatch(key[1:-1], str(status)):
                    return response
            except re.error:
                continue
    for response in responses:
        if response.get("integrationResponseKey") == DEFAULT_KEY:
            return response
    return None


def respond(
    definition: Mapping[str, Any],
    status: int,
    body: str,
    request: str,
    context: Context,
    headers: CIMultiDictProxy[str] | None = None,
) -> IntegrationResponse:
    """What the route response gets: the integration response's template rendered, or ``body``.

    ``request`` is the route request's payload (``${request.body.x}`` selection)."""
    response = select_response(definition, status)
    output = body
    if response is not None:
        templates = response.get("responseTemplates") or {}
        expression = response.get("templateSelectionExpression")
        key = select(expression, request, status)
        template = pick_template(templates, key)
        if template is not None:
            output = _rendered(template, body, context)
    if headers is None:
        headers = CIMultiDictProxy(CIMultiDict())
    return IntegrationResponse(status, headers, output.encode("utf-8"))


def run_mock(definition: Mapping[str, Any], body: str, context: Context) -> IntegrationResponse:
    """A MOCK integration: nothing is called; the request template's status answers."""
    status = mock_status(request_body(definition, body, context))
    return respond(definition, status, "", body, context)
