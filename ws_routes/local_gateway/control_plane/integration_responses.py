"""Integration requests and responses the local gateway can run, checked when they are created.

``MOCK`` and non-proxy ``HTTP`` integrations run their templates (:mod:`..mock_integration`);
what the local gateway cannot honour is refused at ``CreateIntegration`` /
``CreateIntegrationResponse`` (and their updates) with a ``BadRequestException`` naming it,
never accepted and then failing at the first connect:

- ``integrationType`` ``AWS`` (non-proxy Lambda / AWS service calls);
- ``contentHandlingStrategy`` (binary conversion: WebSocket frames here are text only);
- templates beyond the :mod:`..vtl` subset, selection expressions it cannot evaluate;
- an integration response's ``responseParameters`` (AWS: WebSocket APIs support none that
  reach a client; not emulated).

Defaults: AWS CLI ``create-integration`` example for a WebSocket MOCK integration answers
``IntegrationResponseSelectionExpression`` ``${integration.response.statuscode}`` and
``PassthroughBehavior`` ``WHEN_NO_MATCH``; the same defaults are given to non-proxy ``HTTP``
(what AWS answers for proxy integrations there: unknown, so nothing is added).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from ..mock_integration import RESPONSES
from ..vtl import DEFAULT_KEY, TemplateRefused, check_selection, parse
from .rules import new_id
from .service_model import BadRequest, Conflict, NotFound


class Lookups(Protocol):
    """What is used of :class:`~.operations.Operations` (not imported: it imports this)."""

    def api(self, api_id: str) -> dict[str, Any]: ...

    def item(self, record: dict[str, Any], resource: str, item_id: str) -> dict[str, Any]: ...


NON_PROXY = ("MOCK", "HTTP")
NON_PROXY_DEFAULTS = {
    "integrationResponseSelectionExpression": "${integration.response.statuscode}",
    "passthroughBehavior": "WHEN_NO_MATCH",
}


def integration_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """What AWS fills in for a new integration of this type (see the module docstring)."""
    return dict(NON_PROXY_DEFAULTS) if body.get("integrationType") in NON_PROXY else {}


def _templates(templates: Any, where: str) -> None:
    for key, template in (templates or {}).items():
        try:
            parse(template)
        except TemplateRefused as error:
            raise BadRequest(f"Invalid {where} template {key[:80]!r}: {error}") from None


def _selection(expression: Any, *, response: bool) -> None:
    if expression is None:
        return
    try:
        check_selection(expression, response=response)
    except TemplateRefused as error:
        raise BadRequest(f"Invalid template selection expression: {error}") from None


def check_integration_templates(integration: dict[str, Any]) -> None:
    """Refuse what the local gateway would accept and then fail to run."""
    kind = integration.get("integrationType")
    if kind == "AWS":
        raise BadRequest(
            "integrationType AWS (a non-proxy Lambda or AWS service integration) is not "
            "supported by the local gateway: use AWS_PROXY, HTTP_PROXY, HTTP or MOCK"
        )
    if integration.get("contentHandlingStrategy") is not None:
        raise BadRequest(
            "contentHandlingStrategy is not supported by the local gateway (binary payload "
            "conversion): leave it unset"
        )
    _templates(integration.get("requestTemplates"), "request")
    _selection(integration.get("templateSelectionExpression"), response=False)


def check_integration_response(response: dict[str, Any]) -> None:
    key = str(response.get("integrationResponseKey", ""))
    if key != DEFAULT_KEY:
        if not (len(key) >= 2 and key.startswith("/") and key.endswith("/")):
            # AWS developer guide, "Set up a WebSocket API integration response": the key is
            # $default or a regular expression in the "/expression/" format.
            raise BadRequest(f"Invalid integration response key {key[:80]!r}: $default or /regex/")
        try:
            re.compile(key[1:-1])
        except (re.error, RecursionError, OverflowError):
            raise BadRequest(f"Invalid integration response key {key[:80]!r}: bad regex") from None
    if response.get("contentHandlingStrategy") is not None:
        raise BadRequest("contentHandlingStrategy is not supported by the local gateway")
    if response.get("responseParameters"):
        raise BadRequest("responseParameters of an integration response are not supported")
    _templates(response.get("responseTemplates"), "response")
    _selection(response.get("templateSelectionExpression"), response=True)


class IntegrationResponses:
    """Create / update / delete / list of the integration responses of one integration."""

    def __init__(self, ops: Lookups) -> None:
        self.ops = ops

    def collection(self, params: dict[str, str]) -> dict[str, Any]:
        record = self.ops.api(params["apiId"])
        integration = self.ops.item(record, "Integration", params["integrationId"])
        responses: dict[str, Any] = integration.setdefault(RESPONSES, {})
        return responses

    def _unique(self, responses: dict[str, Any], new: dict[str, Any], own_id: str) -> None:
        for response_id, response in responses.items():
            if response_id != own_id and response.get("integrationResponseKey") == new.get(
                "integrationResponseKey"
            ):
                raise Conflict(
                    f"IntegrationResponse with integrationResponseKey "
                    f"{new.get('integrationResponseKey')!r} already exists"
                )

    def create(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        responses = self.collection(params)
        response = {**body, "integrationResponseId": new_id(6)}
        check_integration_response(response)
        self._unique(responses, response, response["integrationResponseId"])
        responses[response["integrationResponseId"]] = response
        return response

    def _found(self, responses: dict[str, Any], response_id: str) -> dict[str, Any]:
        response = responses.get(response_id)
        if response is None:
            raise NotFound(f"Invalid IntegrationResponse identifier specified {response_id}")
        found: dict[str, Any] = response
        return found

    def update(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        responses = self.collection(params)
        response = self._found(responses, params["integrationResponseId"])
        check_integration_response({**response, **body})
        self._unique(responses, {**response, **body}, params["integrationResponseId"])
        response.update(body)
        return response

    def delete(self, params: dict[str, str], body: dict[str, Any]) -> None:
        responses = self.collection(params)
        self._found(responses, params["integrationResponseId"])
        del responses[params["integrationResponseId"]]
