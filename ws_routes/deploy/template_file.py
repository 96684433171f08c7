"""A template file on disk against the registry: is it ours, whose is it, what differs.

Used by ``syncroutes --emit cloudformation --check`` and by the ``check --deploy`` drift
warning. Example: ``print(template_drift(gateway, Path("chat.template.yaml")))``.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

from ..models import ApiGateway
from ..routing import Router
from .cloudformation import FORMATS, MARKER, emit_template, header_line
from .errors import PlanError

#: ``--output`` / ``WS_ROUTES["TEMPLATE_FILE"]`` may name one file per gateway with this.
GATEWAY_PLACEHOLDER = "{gateway}"
#: A template file larger than this is not one of ours (ours stop at 1,000,000 bytes).
MAX_FILE_BYTES = 2_000_000
_HEADER = re.compile(r"# ws_routes template of gateway (\"(?:[^\"\\]|\\.)*\"):")


class TemplateFileError(PlanError):
    """A template file that cannot be read, or that is not one ``syncroutes`` emitted."""


_FILE_NAME_PART = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def gateway_path(pattern: str, name: str) -> Path:
    """``pattern`` with ``{gateway}`` replaced by ``name``, which must be a plain file name part
    (no ``/``, never ``.`` or ``..``): a gateway's name cannot point the file elsewhere."""
    if not _FILE_NAME_PART.fullmatch(name) or name.strip(".") == "":
        raise TemplateFileError(
            f"Gateway {name!r}: its name cannot stand for {GATEWAY_PLACEHOLDER} in a file name "
            "(use 1 to 128 of A-Z a-z 0-9 _ . -); name its file without the placeholder."
        )
    return Path(pattern.replace(GATEWAY_PLACEHOLDER, name))


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else ``yaml`` for ``.yaml``/``.yml`` files and ``json`` otherwise."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise PlanError(f"Unknown template format {fmt!r}: use one of {', '.join(FORMATS)}.")
        return fmt
    return "yaml" if str(path).lower().endswith((".yaml", ".yml")) else "json"


def read_text(path: Path) -> str:
    """The file's text; :class:`TemplateFileError` naming the file if it cannot be read."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TemplateFileError(
                f"{path}: larger than {MAX_FILE_BYTES} bytes, not a template syncroutes emitted."
            )
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateFileError(f"{path}: cannot be read ({error}).") from error


def template_owner(text: str, path: Path) -> tuple[str, str]:
    """``(gateway name, format)`` of a template we emitted; refuses any other file.

    A JSON template names its gateway in ``Metadata.ws_routes.Gateway``; a YAML one in its
    first line (a comment), so no YAML parser is needed to tell whose it is.
    """
    first = text.split("\n", 1)[0]
    match = _HEADER.match(first)
    if match is not None:
        name = json.loads(match.group(1))
        if first != f"# {header_line(name)}":
            raise TemplateFileError(f"{path}: its first line was edited: {first[:120]!r}.")
        return name, "yaml"
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise TemplateFileError(
            f"{path}: not a template syncroutes emitted (neither JSON nor a YAML file whose "
            "first line is the ws_routes header)."
        ) from None
    marker = body.get("Metadata", {}).get(MARKER) if isinstance(body, dict) else None
    name = marker.get("Gateway") if isinstance(marker, dict) else None
    if not isinstance(name, str):
        raise TemplateFileError(
            f"{path}: not a template syncroutes emitted (no Metadata.{MARKER}.Gateway)."
        )
    return name, "json"


def unified_diff(expected: str, actual: str, path: Path) -> str:
    """What changes in ``path`` (``actual``) if it is regenerated (``expected``); "" if nothing."""
    lines = difflib.unified_diff(
        actual.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        fromfile=f"{path} (on disk)",
        tofile=f"{path} (registry)",
    )
    return "".join(lines)


def template_drift(gateway: ApiGateway, path: Path, router: Router | None = None) -> str:
    """The unified diff from the file at ``path`` to the template of ``gateway`` ("" if equal).

    Refuses (:class:`TemplateFileError`) a file that is unreadable, not ours, or another
    gateway's. Example: ``if template_drift(gateway, path): ...``.
    """
    text = read_text(path)
    owner, fmt = template_owner(text, path)
    if owner != gateway.api_name:
        raise TemplateFileError(
            f"{path}: the template of gateway {owner!r}, not of {gateway.api_name!r}."
        )
    return unified_diff(emit_template(gateway, router).render(fmt), text, path)
