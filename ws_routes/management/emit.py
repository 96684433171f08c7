"""``syncroutes --emit cloudformation`` and the ``check --deploy`` template drift warning.

- ``syncroutes --emit cloudformation [--output FILE] [--format json|yaml] [--check]`` writes
  each gateway's template (``{gateway}`` in FILE: one file per gateway); ``--check`` writes
  nothing and fails with a unified diff when FILE differs (for CI).
- With ``WS_ROUTES["TEMPLATE_FILE"]`` set, ``manage.py check --deploy`` warns
  (``ws_routes.W011``) when the registry no longer matches that file, and is an error
  (``ws_routes.E011``) when the file is unreadable or not a template we emitted.

Example: ``emit_templates([gateway], output="chat.yaml", fmt=None, check=True, ...)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.management.base import CommandError
from django.db import DatabaseError

from .. import deploy
from ..conf import ws_setting
from ..deploy.cloudformation import emit_template
from ..deploy.template_file import (
    GATEWAY_PLACEHOLDER,
    TemplateFileError,
    format_for,
    gateway_path,
    read_text,
    template_drift,
    template_owner,
    unified_diff,
)
from ..models import ApiGateway

TEMPLATE_DRIFT_CHECK_ID = "ws_routes.W011"
TEMPLATE_FILE_ERROR_ID = "ws_routes.E011"


def _paths(gateways: list[ApiGateway], output: str | None) -> list[Path | None]:
    if len(gateways) > 1 and (output is None or GATEWAY_PLACEHOLDER not in output):
        raise CommandError(
            f"{len(gateways)} gateways: name one with --gateway, or put {GATEWAY_PLACEHOLDER} "
            "in --output to write one file per gateway."
        )
    if output is None:
        return [None]
    try:
        return [gateway_path(output, g.api_name) for g in gateways]
    except TemplateFileError as error:
        raise CommandError(str(error)) from error


def emit_templates(
    gateways: list[ApiGateway],
    *,
    output: str | None,
    fmt: str | None,
    check: bool,
    stdout: Any,
    stderr: Any,
) -> None:
    """Write (or with ``check``, compare) the template of each gateway; CommandError on failure."""
    if check and output is None:
        raise CommandError("--check compares with a file: give it with --output FILE.")
    # Every template first: a gateway that cannot be emitted fails the run before any write.
    emitted: list[tuple[ApiGateway, Path | None, str]] = []
    for gateway, path in zip(gateways, _paths(gateways, output), strict=True):
        try:
            template = emit_template(gateway)
            emitted.append((gateway, path, template.render(format_for(path or "", fmt))))
        except deploy.DeployError as error:
            raise CommandError(f"Gateway {gateway.api_name!r}: {error}") from error
        for warning in template.warnings:
            stderr.write(f"Gateway {gateway.api_name}: warning: {warning}")
    failures: list[str] = []
    for gateway, path, text in emitted:
        if path is None:
            stdout.write(text, ending="")
        elif check:
            try:
                current = read_text(path) if path.exists() else ""
            except TemplateFileError as error:
                raise CommandError(str(error)) from error
            diff = unified_diff(text, current, path)
            if diff:
                stdout.write(diff, ending="" if diff.endswith("\n") else "\n")
                failures.append(f"{gateway.api_name} ({path})")
            else:
                stdout.write(f"{path}: up to date")
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            except OSError as error:
                raise CommandError(f"{path}: cannot be written ({error}).") from error
            stdout.write(f"wrote {path} ({len(text.encode('utf-8'))} bytes)")
    if failures:
        raise CommandError(
            f"Template out of date for {', '.join(failures)}: run the same command without "
            "--check and commit the result."
        )


def _gateway_files() -> list[tuple[ApiGateway | None, Path]]:
    """Each (gateway, template file) pair ``TEMPLATE_FILE`` names (gateway None: unknown)."""
    setting = os.fspath(ws_setting("TEMPLATE_FILE"))
    if GATEWAY_PLACEHOLDER in setting:
        gateways = ApiGateway.objects.order_by("pk")
        return [(g, gateway_path(setting, g.api_name)) for g in gateways]
    path = Path(setting)
    name, _ = template_owner(read_text(path), path)
    return [(ApiGateway.objects.filter(api_name=name).first(), path)]


@register(Tags.compatibility, deploy=True)
def check_template_file(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the registry no longer matches ``WS_ROUTES["TEMPLATE_FILE"]``."""
    setting = ws_setting("TEMPLATE_FILE")
    if setting is None:
        return []
    if not isinstance(setting, (str, os.PathLike)) or not os.fspath(setting):
        return [
            Error(
                f"WS_ROUTES['TEMPLATE_FILE'] must be a path, not {setting!r}.",
                id=TEMPLATE_FILE_ERROR_ID,
            )
        ]
    hint = "Run `manage.py syncroutes --emit cloudformation --output FILE` and commit FILE."
    try:
        pairs = _gateway_files()
        problems: list[CheckMessage] = []
        for gateway, path in pairs:
            if gateway is None:
                raise TemplateFileError(f"{path}: names a gateway that has no ApiGateway row.")
            try:
                diff = template_drift(gateway, path)
            except TemplateFileError:
                raise
            except deploy.DeployError as error:
                problems.append(
                    Warning(
                        f"Gateway {gateway.api_name!r}: its template cannot be emitted, so "
                        f"{path} cannot be checked: {error}",
                        obj=gateway,
                        id=TEMPLATE_DRIFT_CHECK_ID,
                    )
                )
                continue
            if diff:
                changed = sum(
                    1
                    for line in diff.splitlines()
                    if line[:1] in "+-" and not line.startswith(("+++", "---"))
                )
                problems.append(
                    Warning(
                        f"Gateway {gateway.api_name!r}: the route registry no longer matches "
                        f"{path} ({changed} lines differ); a deploy of that template would not "
                        "be what the code serves.",
                        hint=hint,
                        obj=gateway,
                        id=TEMPLATE_DRIFT_CHECK_ID,
                    )
                )
        return problems
    except TemplateFileError as error:
        return [Error(str(error), hint=hint, id=TEMPLATE_FILE_ERROR_ID)]
    except DatabaseError:  # no table yet (before the first migrate)
        return []
