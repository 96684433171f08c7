"""``GetTags`` / ``TagResource`` / ``UntagResource`` and the (empty) authorizers of an API.

Shapes are botocore's (``GetTagsResponse.Tags``, ``TagResourceRequest``, ``UntagResourceRequest``
with ``tagKeys`` in the query, ``GetAuthorizersResponse``). A tagged resource is named by its
ARN, ``arn:aws:apigateway:{region}::/apis/{apiId}`` or ``.../apis/{apiId}/stages/{stageName}``
(AWS developer guide, "Tag your API Gateway resources" and "API Gateway Amazon Resource Name
(ARN) reference"). Limits (same "Tag your API Gateway resources" page): at most 50 tags per
resource, keys 1-128 characters, values at most 256, the ``aws:`` prefix reserved; characters
letters, digits, spaces and ``_ . : / = + - @``. Authorizers are not emulated: an API has none
(``GetAuthorizers`` answers an empty page, ``GetAuthorizer`` ``NotFoundException``, and
``CreateAuthorizer`` is not an operation of the local gateway).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .rules import page_bounds
from .service_model import EXTRA_OPERATIONS, BadRequest, NotFound, Operation, check_body


class Lookups(Protocol):
    """What is used of :class:`~.operations.Operations` (not imported: it imports this)."""

    def api(self, api_id: str) -> dict[str, Any]: ...

    def item(self, record: dict[str, Any], resource: str, item_id: str) -> dict[str, Any]: ...


OPERATIONS = EXTRA_OPERATIONS
MAX_TAGS = 50
_ARN = re.compile(
    r"arn:aws[a-z-]*:apigateway:[a-z0-9-]*::/apis/(?P<api>[a-z0-9]{1,32})"
    r"(?:/stages/(?P<stage>[A-Za-z0-9_-]{1,128}))?"
)
_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")
#: ``UntagResource``'s ``tagKeys`` arrive as repeated query parameters, joined by the server.
KEY_SEPARATOR = "\n"


def check_tags(tags: dict[str, Any], already: int = 0) -> None:
    """Refuse what AWS refuses for tags (see the module docstring)."""
    if len(tags) + already > MAX_TAGS:
        raise BadRequest(f"Too many tags: a resource has at most {MAX_TAGS}")
    for key, value in tags.items():
        if not _KEY.fullmatch(key):
            raise BadRequest(
                f"Invalid tag key {key[:80]!r}: 1-128 letters, digits, spaces, _ . : / = + - @"
            )
        if key.lower().startswith("aws:"):
            raise BadRequest(f"Invalid tag key {key[:80]!r}: the aws: prefix is reserved")
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            raise BadRequest(f"Invalid tag value for {key[:80]!r}: at most 256 characters")


class TagsAndAuthorizers:
    """Answers the operations of :data:`OPERATIONS` against ``ops``' state."""

    def __init__(self, ops: Lookups) -> None:
        self.ops = ops

    def _resource(self, arn: str) -> dict[str, Any]:
        match = _ARN.fullmatch(arn)
        if match is None:
            raise BadRequest(f"Invalid resource ARN {arn[:200]!r}")
        record = self.ops.api(match["api"])
        if match["stage"] is None:
            api: dict[str, Any] = record["api"]
            return api
        return self.ops.item(record, "Stage", match["stage"])

    def run(
        self, operation: Operation, params: dict[str, str], query: dict[str, str], body: dict
    ) -> tuple[int, dict[str, Any] | None]:
        name = operation.name
        if name == "GetAuthorizers":
            self.ops.api(params["apiId"])
            page_bounds(query, 0)
            return operation.status, {"items": []}
        if name == "GetAuthorizer":
            self.ops.api(params["apiId"])
            raise NotFound(f"Invalid Authorizer identifier specified {params['authorizerId']}")
        if name != "TagResource" and body:
            raise BadRequest(f"Invalid input: {name} takes no body")
        resource = self._resource(params["resource_arn"])
        tags: dict[str, str] = resource.get("tags") or {}
        if name == "GetTags":
            return operation.status, {"tags": dict(tags)}
        if name == "TagResource":
            check_body(operation.input_shape, body, create=True)
            new = body.get("tags") or {}
            check_tags(new, already=len(set(tags) - set(new)))
            resource["tags"] = {**tags, **new}
        else:
            keys = [key for key in query.get("tagKeys", "").split(KEY_SEPARATOR) if key]
            if not keys:
                raise BadRequest("Invalid input: tagKeys is required")
            resource["tags"] = {k: v for k, v in tags.items() if k not in keys}
        return operation.status, {} if name == "TagResource" else None
