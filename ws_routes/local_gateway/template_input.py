"""What ``runwsgateway --template FILE`` reads: the file as data, the parameters, the origin.

JSON, or YAML through PyYAML's *safe* loader (no ``!!python/object`` or other constructed
objects), with CloudFormation's short tags (``!Ref``, ``!Sub``, ``!GetAtt``...) read as the
long form (``{"Ref": ...}``) so :mod:`.template` refuses an unsupported one by name. Anchors
and aliases (which ``syncroutes --emit`` never writes) and duplicate keys are refused, and so
is a file over :data:`MAX_TEMPLATE_FILE_BYTES`. Example: ``read_template(Path("chat.yaml"))``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: CloudFormation takes at most 1 MB (from S3, cloudformation-limits.html); a file five times
#: that is not a template, and is refused before it is parsed.
MAX_TEMPLATE_FILE_BYTES = 5_000_000


class TemplateError(Exception):
    """A template the local gateway cannot serve; the message names the file, resource, property."""


def read_template(path: Path | str) -> dict[str, Any]:
    """The template at ``path`` as a dict; :class:`TemplateError` if it is not a template."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_TEMPLATE_FILE_BYTES + 1)
    except OSError as error:
        raise TemplateError(
            f"Template {path}: cannot be read ({error.strerror or error})."
        ) from None
    if len(raw) > MAX_TEMPLATE_FILE_BYTES:
        raise TemplateError(
            f"Template {path}: larger than {MAX_TEMPLATE_FILE_BYTES} bytes; CloudFormation takes "
            "at most 1,000,000 (cloudformation-limits.html), so it is not a template."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(f"Template {path}: not UTF-8 text.") from None
    return parse_template(text, str(path))


def parse_template(text: str, source: str = "template") -> dict[str, Any]:
    """``text`` (JSON if it starts with ``{``, else YAML) as a dict."""
    try:
        if text.lstrip().startswith("{"):
            body = json.loads(text, object_pairs_hook=_unique_pairs(source))
        else:
            body = _load_yaml(text, source)
    except RecursionError:
        raise TemplateError(f"Template {source}: nested too deeply.") from None
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise TemplateError(f"Template {source}: not valid JSON ({error}).") from None
    if not isinstance(body, dict):
        raise TemplateError(
            f"Template {source}: not a CloudFormation template (expected a mapping at the top, "
            f"got {type(body).__name__})."
        )
    return body


def _unique_pairs(source: str) -> Any:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise TemplateError(f"Template {source}: key {key!r} appears twice in one object.")
            result[key] = value
        return result

    return build


def _load_yaml(text: str, source: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - installed with the local extra
        raise TemplateError(
            f"Template {source}: reading YAML needs PyYAML (pip install 'django-ws-routes[local]'"
            "), or emit the template with --format json."
        ) from None
    loader = _safe_loader(yaml)(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TemplateError(f"Template {source}: not valid YAML{where} ({problem}).") from None
    finally:
        loader.dispose()


def _safe_loader(yaml: Any) -> Any:
    """PyYAML's SafeLoader plus CloudFormation short tags; no aliases, no duplicate keys."""

    class TemplateLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.YAMLError(
                    f"anchors and aliases are not supported (alias at line "
                    f"{event.start_mark.line + 1}); syncroutes --emit never writes them"
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    line = key_node.start_mark.line + 1
                    raise yaml.YAMLError(f"key {key!r} appears twice in one mapping (line {line})")
                seen.add(key if isinstance(key, (str, int, float, bool)) else id(key))
            return super().construct_mapping(node, deep=deep)

    def short_tag(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    TemplateLoader.add_multi_constructor("!", short_tag)
    return TemplateLoader


def parameter_value(name: str, spec: Any, given: str | None) -> str:
    """The parameter's value, checked as CloudFormation checks it; the value is never echoed."""
    where = f"Parameter {name}"
    if not isinstance(spec, dict) or spec.get("Type") != "String":
        raise TemplateError(f"{where}: only Type String parameters are supported.")
    value = given if given is not None else spec.get("Default")
    if value is None:
        raise TemplateError(f"{where} has no value: pass --parameter {name}=VALUE.")
    value = str(value)
    low, high = spec.get("MinLength", 0), spec.get("MaxLength", len(value))
    if not (isinstance(low, int) and isinstance(high, int) and low <= len(value) <= high):
        raise TemplateError(f"{where}: its value must be {low} to {high} characters long.")
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        raise TemplateError(f"{where}: its value is not one of AllowedValues.")
    pattern = spec.get("AllowedPattern")
    if pattern is not None:
        try:
            matches = re.fullmatch(str(pattern), value) is not None
        except re.error:
            raise TemplateError(f"{where}: AllowedPattern is not a pattern it can check.") from None
        if not matches:
            raise TemplateError(f"{where}: its value does not match AllowedPattern {pattern}.")
    return value


def rebase(uri: str, origin: str) -> str:
    """``uri`` with its scheme and host:port replaced by ``origin``'s (the path is kept)."""
    parts, base = urlsplit(uri), urlsplit(origin)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def check_origin(origin: str) -> str:
    """``--integration-origin``: ``http(s)://host[:port]`` and nothing else."""
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise TemplateError(
            f"--integration-origin {origin!r}: expected http(s)://host[:port] with no path."
        )
    return origin
