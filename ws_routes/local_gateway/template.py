"""``runwsgateway --template FILE``: a template ``syncroutes --emit cloudformation`` wrote, served.

Each ``AWS::ApiGatewayV2::*`` resource becomes the control-plane call CloudFormation makes for it
(``Api`` → ``CreateApi``, ``Route`` → ``CreateRoute``...; a CloudFormation property is the
botocore member of the same name, AWS::ApiGatewayV2 resource reference), run through the same
:class:`~.control_plane.operations.Operations` a ``syncroutes`` deploy goes through, so the data
plane serves the loaded API exactly as a deployed one. Resources are created in dependency
order (``Ref``/``Fn::GetAtt``/``Fn::Sub``/``DependsOn``). Resolved: ``Ref`` (parameters,
resources, pseudo parameters), ``Fn::GetAtt`` of ids, ``Fn::Sub``; anything else is refused
with the resource and property named. ``DomainName``, ``ApiMapping``, IAM, Lambda and Route 53
resources are skipped with a note. Example::

    loaded = load_template(gateway.server.control_plane.operations, read_template(path),
                           parameters={"GatewaySecret": secret})
    loaded.stages   # ["demo"]: where clients connect (ws://host:port/demo)
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .control_plane.operations import Operations
from .control_plane.rules import ID_FIELDS
from .control_plane.service_model import ApiError, check_value, members, operations, service_model
from .template_input import TemplateError, check_origin, parameter_value, rebase

PREFIX = "AWS::ApiGatewayV2::"
#: Created in this order when nothing else decides (a deployment after every route).
CREATED = ("Api", "Model", "Integration", "Route", "RouteResponse", "Deployment", "Stage")
#: Not emulated: skipped with a note (the API is served without them).
SKIPPED = frozenset(
    {
        "AWS::ApiGatewayV2::DomainName",
        "AWS::ApiGatewayV2::ApiMapping",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::Lambda::Permission",
        "AWS::Route53::RecordSet",
    }
)
SECTIONS = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Resources", "Outputs"}
)
RESOURCE_KEYS = frozenset(
    {"Type", "Properties", "DependsOn", "Metadata", "DeletionPolicy", "UpdateReplacePolicy"}
)
INTRINSICS = ("Ref", "Fn::GetAtt", "Fn::Sub")
#: What ``Ref`` of a pseudo parameter gives locally (AWS docs, "Pseudo parameters reference").
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "ws-routes-local",
}
#: CloudFormation's resources per template quota (cloudformation-limits.html).
MAX_RESOURCES = 500
_SUB = re.compile(r"\$\{([^}]*)\}")


@dataclass
class LoadedTemplate:
    """What a template was loaded as: its API's id, the stages served, what was skipped."""

    api_id: str
    stages: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Resource:
    logical: str
    kind: str  # "Route", ... (the part after AWS::ApiGatewayV2::)
    properties: dict[str, Any]
    depends_on: set[str]


def _where(logical: str, kind: str, path: str = "") -> str:
    return f"Resource {logical} ({PREFIX}{kind}){': ' + path if path else ''}"


class _Loader:
    def __init__(
        self,
        body: dict[str, Any],
        parameters: Mapping[str, str],
        region: str,
        integration_origin: str | None,
    ) -> None:
        self.body = body
        self.region = region
        self.origin = integration_origin
        self.notes: list[str] = []
        self.values = self._parameters(parameters)
        self.resources = self._resources()
        self.physical: dict[str, dict[str, Any]] = {}  # logical id -> the create answer

    # -- the template's sections ---------------------------------------------------------------

    def _parameters(self, given: Mapping[str, str]) -> dict[str, str]:
        for section in self.body:
            if section not in SECTIONS:
                raise TemplateError(
                    f"Section {section!r} is not supported by the local gateway (it reads "
                    f"{', '.join(sorted(SECTIONS))})."
                )
        declared = self.body.get("Parameters", {})
        if not isinstance(declared, dict):
            raise TemplateError("Parameters: must be a mapping of parameter names.")
        for name in given:
            if name not in declared:
                raise TemplateError(
                    f"--parameter {name}: the template has no such parameter (it has "
                    f"{', '.join(sorted(declared)) or 'none'})."
                )
        values = {}
        for name, spec in declared.items():
            values[name] = parameter_value(name, spec, given.get(name))
        return values

    def _resources(self) -> dict[str, _Resource]:
        resources = self.body.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise TemplateError("Resources: missing or empty; not a template syncroutes emitted.")
        if len(resources) > MAX_RESOURCES:
            raise TemplateError(
                f"Resources: {len(resources)}; CloudFormation takes at most {MAX_RESOURCES}."
            )
        found: dict[str, _Resource] = {}
        for logical, resource in resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise TemplateError(f"Resource {logical}: must be a mapping with a string Type.")
            kind = resource["Type"]
            if kind in SKIPPED:
                self.notes.append(f"skipped {logical} ({kind}): not emulated by the local gateway")
                continue
            name = kind.removeprefix(PREFIX)
            if not kind.startswith(PREFIX) or name not in CREATED:
                raise TemplateError(
                    f"Resource {logical}: type {kind} is not supported by the local gateway "
                    f"(it serves {', '.join(PREFIX + c for c in CREATED)})."
                )
            for key in resource:
                if key not in RESOURCE_KEYS:
                    raise TemplateError(
                        f"{_where(logical, name)}: attribute {key} is not supported."
                    )
            properties = resource.get("Properties", {})
            if not isinstance(properties, dict):
                raise TemplateError(f"{_where(logical, name, 'Properties')} must be a mapping.")
            depends = resource.get("DependsOn", [])
            depends = [depends] if isinstance(depends, str) else depends
            if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
                raise TemplateError(f"{_where(logical, name, 'DependsOn')} must be names.")
            for target in depends:
                if target not in resources:
                    raise TemplateError(
                        f"{_where(logical, name, 'DependsOn')} names {target}, which is not a "
                        "resource of the template."
                    )
            found[logical] = _Resource(logical, name, properties, set(depends))
        apis = [r.logical for r in found.values() if r.kind == "Api"]
        if len(apis) != 1:
            raise TemplateError(
                f"Resources: {len(apis)} {PREFIX}Api resources ({', '.join(apis) or 'none'}); "
                "a template syncroutes emitted has exactly one."
            )
        for resource in found.values():
            for name, value in resource.properties.items():
                where = _where(resource.logical, resource.kind, name)
                resource.depends_on |= {t for t in _references(value, where) if t in resources}
        return found

    # -- order ---------------------------------------------------------------------------------

    def order(self) -> list[_Resource]:
        pending = {
            r.logical: {d for d in r.depends_on if d in self.resources}
            for r in self.resources.values()
        }
        ready = [(CREATED.index(r.kind), r.logical) for r in self.resources.values()]
        ready = [item for item in ready if not pending[item[1]]]
        heapq.heapify(ready)
        ordered: list[_Resource] = []
        while ready:
            _, logical = heapq.heappop(ready)
            ordered.append(self.resources[logical])
            for other, needs in pending.items():
                if logical in needs:
                    needs.discard(logical)
                    if not needs:
                        heapq.heappush(ready, (CREATED.index(self.resources[other].kind), other))
        if len(ordered) < len(self.resources):
            stuck = sorted(set(self.resources) - {r.logical for r in ordered})
            raise TemplateError(f"Resources {', '.join(stuck)}: their references form a cycle.")
        return ordered

    # -- intrinsic functions -------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        function = _intrinsic(value, where)
        if function is None:
            return {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}
        argument = value[function]
        if function == "Ref":
            if not isinstance(argument, str):
                raise TemplateError(f"{where}: Ref takes a name.")
            return self._ref(argument, where)
        if function == "Fn::GetAtt":
            if not (
                isinstance(argument, list)
                and len(argument) == 2
                and all(isinstance(part, str) for part in argument)
            ):
                raise TemplateError(f"{where}: Fn::GetAtt takes [logical id, attribute].")
            return self._get_att(argument[0], argument[1], where)
        return self._sub(argument, where)

    def _ref(self, name: str, where: str) -> str:
        if name in self.values:
            return self.values[name]
        if name == "AWS::Region":
            return self.region
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.physical:
            resource = self.resources[name]
            return str(self.physical[name][ID_FIELDS[resource.kind]])
        raise TemplateError(f"{where}: Ref {name}: {self._unknown(name)}")

    def _get_att(self, name: str, attribute: str, where: str) -> str:
        if name not in self.physical:
            raise TemplateError(f"{where}: Fn::GetAtt {name}.{attribute}: {self._unknown(name)}")
        kind = self.resources[name].kind
        wire = ID_FIELDS[kind]
        if attribute != wire[0].upper() + wire[1:]:
            raise TemplateError(
                f"{where}: Fn::GetAtt {name}.{attribute} is not supported (the local gateway "
                f"resolves {name}.{wire[0].upper() + wire[1:]})."
            )
        return str(self.physical[name][wire])

    def _unknown(self, name: str) -> str:
        if name.startswith("AWS::"):
            return "a pseudo parameter the local gateway does not resolve."
        kinds = self.body.get("Resources", {})
        if name in kinds:
            return f"{kinds[name].get('Type')} resources are not created by the local gateway."
        return "neither a parameter nor a resource of the template."

    def _sub(self, argument: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            argument, variables = argument[0], argument[1]
        if not isinstance(argument, str):
            raise TemplateError(f"{where}: Fn::Sub takes a string (or [string, variables]).")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                resolved = self.resolve(variables[name], f"{where}.{name}")
            elif "." in name and not name.startswith("AWS::"):
                logical, _, attribute = name.partition(".")
                resolved = self._get_att(logical, attribute, where)
            else:
                resolved = self._ref(name, where)
            if not isinstance(resolved, (str, int, float)) or isinstance(resolved, bool):
                raise TemplateError(f"{where}: Fn::Sub variable {name} is not a string.")
            return str(resolved)

        return _SUB.sub(replace, argument)

    # -- creating ------------------------------------------------------------------------------

    def load(self, ops: Operations) -> LoadedTemplate:
        for resource in self.order():
            self.physical[resource.logical] = self.create(ops, resource)
        api = next(r for r in self.resources.values() if r.kind == "Api")
        stages = sorted(
            str(answer["stageName"])
            for logical, answer in self.physical.items()
            if self.resources[logical].kind == "Stage"
        )
        if not stages:
            raise TemplateError(f"Resources: no {PREFIX}Stage; nothing would be served.")
        return LoadedTemplate(str(self.physical[api.logical]["apiId"]), stages, self.notes)

    def create(self, ops: Operations, resource: _Resource) -> dict[str, Any]:
        kind, logical = resource.kind, resource.logical
        operation = next(op for op in operations() if op.name == f"Create{kind}")
        params: dict[str, str] = {}
        body: dict[str, Any] = {}
        shape = members(operation.input_shape)
        for name, raw in resource.properties.items():
            where = _where(logical, kind, name)
            member = shape.get(name)
            if member is None:
                raise TemplateError(f"{where}: property {name} is not supported.")
            value = self.resolve(raw, where)
            if kind == "Model" and name == "Schema" and isinstance(value, dict):
                value = json.dumps(value)  # CloudFormation takes the schema as JSON or text
            if member.get("location") == "uri":
                params[member.get("locationName", name)] = self._uri_member(name, value, where)
                continue
            value = _wire(member["shape"], value)
            try:
                check_value(member["shape"], value, f"{logical}.{name}")
            except ApiError as error:
                raise TemplateError(f"{where}: {error.message}") from None
            body[member.get("locationName", name)] = value
        for name, member in shape.items():
            if member.get("location") == "uri" and member.get("locationName", name) not in params:
                raise TemplateError(f"{_where(logical, kind, name)} is required.")
        self._refuse_unserved(resource, body)
        try:
            _, answer = ops.run(operation, params, {}, body)
        except ApiError as error:
            raise TemplateError(f"{_where(logical, kind)}: refused ({error.message}).") from None
        assert answer is not None
        return answer

    def _uri_member(self, name: str, value: Any, where: str) -> str:
        kinds = {"ApiId": "Api", "RouteId": "Route"}
        wanted = kinds.get(name)
        created = {
            str(answer[ID_FIELDS[self.resources[logical].kind]])
            for logical, answer in self.physical.items()
            if self.resources[logical].kind == wanted
        }
        if not isinstance(value, str) or value not in created:
            raise TemplateError(f"{where}: must be a Ref to the template's {PREFIX}{wanted}.")
        return value

    def _refuse_unserved(self, resource: _Resource, body: dict[str, Any]) -> None:
        where = _where(resource.logical, resource.kind)
        if resource.kind == "Integration":
            kind = body.get("integrationType")
            if kind not in ("HTTP_PROXY", "AWS_PROXY"):  # AWS_PROXY: a --lambda handler
                raise TemplateError(
                    f"{where}: IntegrationType: {kind} is not served (the local gateway calls "
                    "HTTP_PROXY integrations, and AWS_PROXY ones through runwsgateway --lambda)."
                )
            if self.origin is not None and isinstance(body.get("integrationUri"), str):
                body["integrationUri"] = rebase(body["integrationUri"], self.origin)
        if resource.kind == "Stage":
            if body.get("autoDeploy"):
                raise TemplateError(f"{where}: AutoDeploy: true is not supported.")
            if "deploymentId" not in body:
                raise TemplateError(f"{where}: DeploymentId is required (what the stage serves).")
        if resource.kind == "Route" and body.get("authorizationType", "NONE") != "NONE":
            raise TemplateError(f"{where}: AuthorizationType: only NONE is served locally.")


def _intrinsic(value: dict[str, Any], where: str) -> str | None:
    functions = [key for key in value if key == "Ref" or str(key).startswith("Fn::")]
    if not functions:
        return None
    if len(value) != 1:
        raise TemplateError(f"{where}: {functions[0]} must be the only key of its mapping.")
    function = functions[0]
    if function not in INTRINSICS:
        raise TemplateError(
            f"{where}: intrinsic function {function} is not supported (the local gateway "
            f"resolves {', '.join(INTRINSICS)})."
        )
    return function


def _references(value: Any, where: str) -> set[str]:
    """The names ``value`` refers to (Ref, Fn::GetAtt, Fn::Sub), checked for form."""
    found: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            function = _intrinsic(node, where)
            argument = node.get(function) if function else None
            if function == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif function == "Fn::GetAtt" and isinstance(argument, list) and argument:
                found.add(str(argument[0]))
            elif function == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) and argument else argument
                if isinstance(text, str):
                    found |= {m.split(".", 1)[0] for m in _SUB.findall(text) if m[:1] != "!"}
                stack.append(argument)
            else:
                stack.extend(node.values())
    return found


def _wire(shape_name: str, value: Any) -> Any:
    """A CloudFormation property value in the wire form (``Required`` → ``required``)."""
    shape = service_model()["shapes"][shape_name]
    if shape["type"] == "structure" and isinstance(value, dict):
        by_name = members(shape_name)
        return {
            by_name[key].get("locationName", key) if key in by_name else key: (
                _wire(by_name[key]["shape"], item) if key in by_name else item
            )
            for key, item in value.items()
        }
    if shape["type"] == "map" and isinstance(value, dict):
        return {key: _wire(shape["value"]["shape"], item) for key, item in value.items()}
    if shape["type"] == "list" and isinstance(value, list):
        return [_wire(shape["member"]["shape"], item) for item in value]
    return value  # of the wrong type: check_value names it


def load_template(
    ops: Operations,
    body: dict[str, Any],
    parameters: Mapping[str, str] | None = None,
    *,
    region: str = "us-east-1",
    integration_origin: str | None = None,
) -> LoadedTemplate:
    """Create the template's API through ``ops`` (a control plane's operations) and deploy it.

    ``parameters`` are the values of the template's parameters (``GatewaySecret``);
    ``integration_origin`` (``http://127.0.0.1:8000``) replaces the scheme and host of every
    integration's URI. Raises :class:`TemplateError` naming the resource and property; the
    control plane is left as it was then (nothing is committed half-way).
    """
    if integration_origin is not None:
        check_origin(integration_origin)
    before = ops.state.apis
    ops.state.apis = {**before}
    try:
        loader = _Loader(body, parameters or {}, region, integration_origin)
        return loader.load(ops)
    except RecursionError:
        ops.state.apis = before
        raise TemplateError("Template: nested too deeply.") from None
    except BaseException:
        ops.state.apis = before
        raise
