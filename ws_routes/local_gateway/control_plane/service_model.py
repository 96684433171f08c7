"""botocore's own ``apigatewayv2`` model, read at run time: routes, shapes, validation.

The control plane does not hand-write AWS's wire format: every path, HTTP method, status code,
member name (``locationName``), required member and output member comes from
``botocore/data/apigatewayv2/2018-11-29/service-2.json`` as installed with boto3. So what
boto3 sends is what is parsed, and what is answered is exactly what boto3 parses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The operations the library uses (deploy, admin), served by the emulator.
RESOURCES = (
    "Api",
    "Integration",
    "IntegrationResponse",
    "Route",
    "RouteResponse",
    "Model",
    "Stage",
    "Deployment",
)
PLURALS = {"Api": "Apis"}
#: Served too, outside the resource CRUD pattern (:mod:`.tags`).
EXTRA_OPERATIONS = frozenset(
    {"GetTags", "TagResource", "UntagResource", "GetAuthorizers", "GetAuthorizer"}
)


class ApiError(Exception):
    """An answer AWS gives as an error: botocore reads ``x-amzn-ErrorType`` and ``message``.

    Status codes are the model's ``error.httpStatusCode`` of each exception shape
    (``BadRequestException`` 400, ``NotFoundException`` 404, ``ConflictException`` 409).
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else error_status(code)


class BadRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("NotFoundException", message)


class Conflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


@functools.lru_cache(maxsize=1)
def service_model() -> dict[str, Any]:
    """The parsed ``apigatewayv2`` service model of the installed botocore."""
    from botocore.loaders import create_loader

    return dict(create_loader().load_service_model("apigatewayv2", "service-2"))


def error_status(code: str) -> int:
    shape = service_model()["shapes"].get(code, {})
    return int(shape.get("error", {}).get("httpStatusCode", 400))


@dataclass(frozen=True)
class Operation:
    """One model operation: ``CreateRoute`` is ``POST /v2/apis/{apiId}/routes`` → 201."""

    name: str
    method: str
    pattern: re.Pattern[str]
    status: int
    input_shape: str
    output_shape: str | None

    @property
    def verb(self) -> str:
        return re.match(r"[A-Z][a-z]+", self.name).group(0)  # type: ignore[union-attr]

    @property
    def resource(self) -> str:
        noun = self.name[len(self.verb) :]
        for resource in RESOURCES:
            if noun in (resource, PLURALS.get(resource, resource + "s")):
                return resource
        raise LookupError(noun)  # pragma: no cover - only RESOURCES are loaded

    @property
    def is_list(self) -> bool:
        return self.verb == "Get" and self.name[3:] != self.resource


def _uri_pattern(uri: str) -> re.Pattern[str]:
    path = uri.partition("?")[0]

    def group(match: re.Match[str]) -> str:  # {resource-arn}: group resource_arn
        return f"(?P<{match.group(1).replace(chr(92) + '-', '_')}>[^/]+)"

    regex = re.sub(r"\\\{([\w\\-]+)\\\}", group, re.escape(path))
    return re.compile(f"^{regex}$")


@functools.lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    """The served operations, from the model's ``http`` traits."""
    found = []
    for name, operation in service_model()["operations"].items():
        verb = re.match(r"[A-Z][a-z]+", name)
        if name not in EXTRA_OPERATIONS:
            if verb is None or verb.group(0) not in ("Create", "Get", "Update", "Delete"):
                continue
            noun = name[len(verb.group(0)) :]
            if not any(noun in (r, PLURALS.get(r, r + "s")) for r in RESOURCES):
                continue
        http = operation["http"]
        found.append(
            Operation(
                name=name,
                method=http["method"],
                pattern=_uri_pattern(http["requestUri"]),
                status=int(http.get("responseCode", 200)),
                input_shape=operation["input"]["shape"],
                output_shape=operation.get("output", {}).get("shape"),
            )
        )
    return tuple(found)


def find_operation(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The operation answering ``method path``, with its URI parameters (still encoded)."""
    for operation in operations():
        if operation.method != method:
            continue
        match = operation.pattern.match(path)
        if match:
            return operation, match.groupdict()
    return None


def members(shape_name: str) -> dict[str, dict[str, Any]]:
    return dict(service_model()["shapes"][shape_name].get("members", {}))


def output_names(shape_name: str | None) -> frozenset[str]:
    """Wire names (``locationName``) of an output shape's members."""
    if shape_name is None:
        return frozenset()
    return frozenset(m.get("locationName", n) for n, m in members(shape_name).items())


def body_members(shape_name: str) -> dict[str, dict[str, Any]]:
    """Input members carried in the JSON body, by wire name."""
    return {
        member.get("locationName", name): member
        for name, member in members(shape_name).items()
        if "location" not in member
    }


def required_wire_names(shape_name: str) -> list[str]:
    shape = service_model()["shapes"][shape_name]
    names = members(shape_name)
    return [names[n].get("locationName", n) for n in shape.get("required", [])]


def check_value(shape_name: str, value: Any, where: str) -> None:
    """Raise :class:`BadRequest` unless ``value`` fits the model shape (type, enum, length)."""
    shape = service_model()["shapes"][shape_name]
    kind = shape["type"]
    if kind == "string":
        low, high = _length_bounds(shape_name, shape)
        if not isinstance(value, str):
            raise BadRequest(f"Invalid input: {where} must be a string")
        if "enum" in shape and value not in shape["enum"]:
            raise BadRequest(f"Invalid input: {where} must be one of {', '.join(shape['enum'])}")
        if not low <= len(value) <= high:
            raise BadRequest(f"Invalid input: {where} must be {low} to {high} characters long")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"Invalid input: {where} must be an integer")
        if "min" in shape and value < shape["min"] or "max" in shape and value > shape["max"]:
            raise BadRequest(f"Invalid input: {where} is out of range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise BadRequest(f"Invalid input: {where} must be a boolean")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"Invalid input: {where} must be a number")
    elif kind == "timestamp":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise BadRequest(f"Invalid input: {where} must be a timestamp")
    elif kind == "list":
        if not isinstance(value, list):
            raise BadRequest(f"Invalid input: {where} must be a list")
        for index, item in enumerate(value):
            check_value(shape["member"]["shape"], item, f"{where}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise BadRequest(f"Invalid input: {where} must be an object")
        for key, item in value.items():
            check_value(shape["key"]["shape"], key, f"{where} key")
            check_value(shape["value"]["shape"], item, f"{where}.{key}")
    elif kind == "structure":
        check_structure(shape_name, value, where)


def _length_bounds(shape_name: str, shape: Mapping[str, Any]) -> tuple[int, int]:
    """Length bounds: the model's ``min``/``max``, or those its shape names spell out

    (``StringWithLengthBetween1And128``, ``...0And32K``: the model documents them only so)."""
    match = re.fullmatch(r"StringWithLengthBetween(\d+)And(\d+)(K?)", shape_name)
    if match:
        high = int(match.group(2)) * (1024 if match.group(3) else 1)
        return int(match.group(1)), high
    return int(shape.get("min", 0)), int(shape.get("max", 1 << 20))


def check_structure(shape_name: str, value: Any, where: str = "body") -> None:
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input: {where} must be an object")
    by_wire = {m.get("locationName", n): m for n, m in members(shape_name).items()}
    for key, item in value.items():
        member = by_wire.get(key)
        if member is None or "location" in member:
            raise BadRequest(f"Invalid input: unknown member {where}.{key}")
        check_value(member["shape"], item, f"{where}.{key}" if where != "body" else key)


def check_body(shape_name: str, body: Mapping[str, Any], *, create: bool) -> None:
    """The body of one request: known members with the right types; required ones on create."""
    check_structure(shape_name, dict(body))
    if create:
        body_names = body_members(shape_name)
        for name in required_wire_names(shape_name):
            if name in body_names and name not in body:
                raise BadRequest(f"Invalid input: {name} is required")
