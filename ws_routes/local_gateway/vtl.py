"""The small Velocity (VTL) subset the local gateway runs in mapping templates.

API Gateway runs a WebSocket integration's ``requestTemplates`` and an integration response's
``responseTemplates`` as Apache Velocity templates (AWS developer guide, "Data transformations
for WebSocket APIs"). The local gateway does not embed a Velocity engine: it runs literal text
(typically JSON) with these references, and refuses every other template when it is created
(``BadRequestException`` naming the construct), never at the first connect:

- ``$input.body``: the payload as a string;
- ``$input.json('$')`` / ``$input.json('$.a.b')``: the JSON of the payload or of one member
  (dotted names only); a missing member renders nothing (what AWS renders there: unknown);
- ``$context.NAME`` / ``${context.NAME}``: a context variable of :data:`CONTEXT_VARIABLES`.

Refused: directives (``#set``, ``#if``, ``#foreach``..., ``##`` and ``#*`` comments), escapes
(``\\$``), any other ``$`` reference (``$util``, ``$input.path``, ``$stageVariables``...).
A ``$`` or ``#`` that Velocity itself prints literally (``"$5"``, ``"#fff"``) is kept.
Rendering is one pass over the parsed parts: a rendered value is never evaluated again, so a
template cannot recurse or expand past its own size times the payload's.

Example::

    parts = parse('{"statusCode": 200, "said": $input.json(\\'$.text\\')}')
    render(parts, body='{"text": "hi"}', context=lambda name: None)  # '{"statusCode": 200...'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Context variables a template may name: those the data plane fills for every event
#: (:meth:`~.deployed.DeployedStage._source`), AWS developer guide, "WebSocket API mapping
#: template reference" / "Setting up data mapping for WebSocket APIs".
CONTEXT_VARIABLES = frozenset(
    {
        "connectionId",
        "eventType",
        "routeKey",
        "identity.sourceIp",
        "requestId",
        "extendedRequestId",
        "apiId",
        "stage",
    }
)
#: Velocity's directives: a ``#`` followed by one of them is code the local gateway cannot run.
DIRECTIVES = frozenset(
    {
        "set",
        "if",
        "elseif",
        "else",
        "end",
        "foreach",
        "break",
        "stop",
        "include",
        "parse",
        "macro",
        "define",
        "evaluate",
    }
)
#: A template is at most 32 KB (botocore: ``StringWithLengthBetween0And32K``).
MAX_TEMPLATE_CHARS = 32 * 1024
#: What one rendering may produce (a local bound: 32 KB of ``$input.body`` references on a
#: 128 KB message would be gigabytes); more fails the call instead of exhausting memory.
MAX_RENDERED_CHARS = 1024 * 1024

_NAME = r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*"
_BODY = re.compile(r"\$input\.body(?![A-Za-z0-9_(])")
_JSON = re.compile(r"\$input\.json\('(\$(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)'\)")
_CONTEXT = re.compile(rf"\$(?:context\.({_NAME})|\{{context\.({_NAME})\}})")
_DIRECTIVE = re.compile(r"#\{?([A-Za-z]+)")


class TemplateRefused(ValueError):
    """A template outside the subset; the message names the construct."""


@dataclass(frozen=True)
class Reference:
    kind: str  # "body", "json" or "context"
    value: str = ""  # the JSON path or the context variable


Part = str | Reference


def parse(template: str) -> list[Part]:
    """The template's literal text and references; :class:`TemplateRefused` outside the subset."""
    if not isinstance(template, str):
        raise TemplateRefused("a mapping template must be a string")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateRefused(f"a mapping template is at most {MAX_TEMPLATE_CHARS} characters")
    parts: list[Part] = []
    literal: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        if char == "\\" and template[index + 1 : index + 2] in ("$", "#"):
            raise TemplateRefused(_refusal(template, index, "a Velocity escape"))
        if char == "#":
            _check_hash(template, index)
        if char != "$":
            literal.append(char)
            index += 1
            continue
        reference, end = _reference(template, index)
        if reference is None:
            literal.append(char)
            index += 1
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(reference)
        index = end
    if literal:
        parts.append("".join(literal))
    return parts


def _reference(template: str, index: int) -> tuple[Reference | None, int]:
    following = template[index + 1 : index + 2]
    if not (following.isalpha() or following in ("{", "!")):
        return None, index + 1  # "$5", "$ ", "$": Velocity prints a lone dollar as it is
    for pattern, kind in ((_BODY, "body"), (_JSON, "json")):
        match = pattern.match(template, index)
        if match:
            return Reference(kind, match.group(1) if kind == "json" else ""), match.end()
    match = _CONTEXT.match(template, index)
    if match:
        name = match.group(1) or match.group(2)
        if name not in CONTEXT_VARIABLES:
            raise TemplateRefused(
                f"$context.{name[:80]} is not a context variable the local gateway supplies "
                f"(it has {', '.join(sorted(CONTEXT_VARIABLES))})"
            )
        return Reference("context", name), match.end()
    raise TemplateRefused(_refusal(template, index, "a Velocity reference"))


def _check_hash(template: str, index: int) -> None:
    following = template[index + 1 : index + 2]
    if following in ("#", "*"):
        raise TemplateRefused(_refusal(template, index, "a Velocity comment"))
    match = _DIRECTIVE.match(template, index)
    if match and match.group(1) in DIRECTIVES:
        raise TemplateRefused(_refusal(template, index, "a Velocity directive"))


def _refusal(template: str, index: int, what: str) -> str:
    excerpt = template[index : index + 40]
    return (
        f"{what} ({excerpt!r}) is beyond the local gateway's template subset: literal text with "
        "$input.body, $input.json('$...') and $context.* only"
    )


def _json_member(body: str, path: str) -> str:
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    for name in path.split(".")[1:]:
        if not isinstance(value, dict) or name not in value:
            return ""
        value = value[name]
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):  # pragma: no cover - parsed JSON always dumps
        return ""


def render(parts: list[Part], body: str, context: Callable[[str], str | None]) -> str:
    """One pass: literal text as it is, each reference replaced by its value (never re-read)."""
    out: list[str] = []
    size = 0
    for part in parts:
        if isinstance(part, str):
            value = part
        elif part.kind == "body":
            value = body
        elif part.kind == "json":
            value = _json_member(body, part.value)
        else:
            value = context(part.value) or ""
        size += len(value)
        if size > MAX_RENDERED_CHARS:
            raise TemplateRefused(f"the rendered template is over {MAX_RENDERED_CHARS} characters")
        out.append(value)
    return "".join(out)


# -- template and integration response selection ----------------------------------------------

#: ``${integration.response.statuscode}``: what an integration response's template selection
#: expression may name besides the body (AWS developer guide, "Data transformations for
#: WebSocket APIs": also ``integration.response.header.*``, not supported locally).
STATUS_CODE = "${integration.response.statuscode}"
DEFAULT_KEY = "$default"


def check_selection(expression: str, *, response: bool) -> None:
    """A template selection expression the local gateway can evaluate, or ``TemplateRefused``."""
    if expression.startswith(("${request.body.", "$request.body.")) or (
        response and expression == STATUS_CODE
    ):
        return
    if "$" in expression.replace("\\$", ""):
        raise TemplateRefused(
            f"template selection expression {expression[:80]!r} is beyond the local gateway: "
            "it evaluates ${request.body.path}"
            + (", ${integration.response.statuscode}" if response else "")
            + " and static values"
        )


def select(expression: str | None, body: str, status: int | None = None) -> str | None:
    """The key a template selection expression selects (``\\$default`` → ``$default``)."""
    if not expression:
        return None
    if expression == STATUS_CODE:
        return None if status is None else str(status)
    if expression.startswith(("${request.body.", "$request.body.")):
        path = expression.strip("${}").removeprefix("request.body.").split(".")
        try:
            value: Any = json.loads(body)
        except (ValueError, RecursionError):
            return None
        for name in path:
            if not isinstance(value, dict) or name not in value:
                return None
            value = value[name]
        return None if isinstance(value, (dict, list)) else str(value)
    return expression.replace("\\$", "$")


def pick_template(templates: dict[str, str], key: str | None) -> str | None:
    """The template for ``key``; else ``$default``; else ``application/json`` (the key AWS's
    and CDK's examples use; which one AWS falls back to without a match is unknown)."""
    for candidate in (key, DEFAULT_KEY, "application/json"):
        if candidate is not None and candidate in templates:
            return templates[candidate]
    return None
