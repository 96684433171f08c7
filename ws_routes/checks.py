"""System checks: ``manage.py check`` reports a misconfiguration, not the first message."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS
from .contract import SECRET_PATTERN, lambda_gateway_entry
from .endpoint_override import half_configured, is_loopback_host, local_gateway_url
from .setting_types import (
    NEAR_MISS_SETTING_ID,
    SETTING_TYPE_ERROR_ID,
    close_setting_names,
    default_hint,
    near_miss_names,
    type_problems,
)

#: Settings with a check of their own (E003-E010, E015): E012 does not name them twice.
CHECKED_ELSEWHERE = (
    "GATEWAY_SECRETS",
    "ALLOWED_ORIGINS",
    "LAMBDA_GATEWAYS",
    "HISTORY_MAX_AGE_SECONDS",
    "HISTORY_NEW_CHANNELS_PER_USER",
    "LOCAL_GATEWAY",
)

__all__ = ["SECRET_PATTERN", "check_ws_routes_settings"]


@register(Tags.security, deploy=False)
def check_ws_routes_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = _near_miss_problems()
    configured = getattr(settings, "WS_ROUTES", None)
    if configured is None:
        configured = {}
    if not isinstance(configured, dict):
        return [*problems, Error("WS_ROUTES must be a dict.", id="ws_routes.E001")]
    unknown = sorted(set(configured) - set(DEFAULTS), key=str)
    if unknown:
        meant = {name: close_setting_names(name) for name in unknown}
        guesses = "; ".join(f"{n!r}: did you mean {' or '.join(m)}?" for n, m in meant.items() if m)
        problems.append(
            Error(
                f"Unknown WS_ROUTES keys: {', '.join(map(str, unknown))}."
                + (f" ({guesses})" if guesses else ""),
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="ws_routes.E002",
            )
        )
    problems.extend(
        Error(f"WS_ROUTES[{name!r}] {problem}.", hint=default_hint(name), id=SETTING_TYPE_ERROR_ID)
        for name, problem in type_problems(configured, skip=CHECKED_ELSEWHERE)
    )
    secrets = configured.get("GATEWAY_SECRETS", [])
    if isinstance(secrets, str) or not isinstance(secrets, (list, tuple)):
        problems.append(
            Error(
                "WS_ROUTES['GATEWAY_SECRETS'] must be a list of strings.",
                hint='Write WS_ROUTES = {"GATEWAY_SECRETS": [os.environ["WS_GATEWAY_SECRET"]]}.',
                id="ws_routes.E003",
            )
        )
    elif not secrets and not configured.get("LAMBDA_GATEWAYS"):  # Lambda-only needs none
        problems.append(
            Error(
                "WS_ROUTES['GATEWAY_SECRETS'] is empty, so the gateway view refuses every call "
                "(DEBUG included).",
                hint="Generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
                " and set WS_ROUTES = {'GATEWAY_SECRETS': [that value]}, then run syncroutes.",
                id="ws_routes.E004",
            )
        )
    else:
        for index, secret in enumerate(secrets):
            if not isinstance(secret, str) or not SECRET_PATTERN.fullmatch(secret):
                problems.append(
                    Error(
                        f"WS_ROUTES['GATEWAY_SECRETS'][{index}] must be 32 to 256 characters from "
                        "A-Z a-z 0-9 . _ ~ + / = - (it is written into a gateway mapping "
                        "as 'value').",
                        id="ws_routes.E005",
                    )
                )
    origins = configured.get("ALLOWED_ORIGINS", [])
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        problems.append(Error("WS_ROUTES['ALLOWED_ORIGINS'] must be a list.", id="ws_routes.E006"))
    else:
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", str(origin)):
                problems.append(
                    Error(
                        f"WS_ROUTES['ALLOWED_ORIGINS'] entry {origin!r} is not an origin.",
                        hint="Write scheme://host[:port] with no path, e.g. https://www.example.com.",
                        id="ws_routes.E007",
                    )
                )
    if "*" in (origins or []) and not settings.DEBUG:
        problems.append(
            Warning(
                "WS_ROUTES['ALLOWED_ORIGINS'] contains '*': any site can open a socket with your "
                "users' cookies.",
                id="ws_routes.W001",
            )
        )
    problems.extend(local_gateway_problems(configured, os.environ))
    problems.extend(_history_budget_problems(configured))
    problems.extend(_lambda_gateway_problems(configured))
    return problems


def local_gateway_problems(configured: dict[str, Any], environ: Mapping[str, str]) -> list[Any]:
    """``LOCAL_GATEWAY`` malformed (E015), https to a remote host (W014), or a setup where only
    one of the control plane and the sends goes to a local gateway (W013)."""
    value = configured.get("LOCAL_GATEWAY")
    try:
        url = local_gateway_url(value if value is not None else "")
    except ImproperlyConfigured as error:
        return [Error(str(error), id="ws_routes.E015")]
    problems: list[Any] = []
    host = urlsplit(url).hostname if url else None
    if url is not None and not is_loopback_host(host):
        problems.append(
            Warning(
                f"WS_ROUTES['LOCAL_GATEWAY'] = {url!r} is not a loopback address: syncroutes, "
                "the admin and every send will send requests signed with your AWS credentials "
                f"(access key id and session token) to {host}.",
                hint="Keep the local gateway on 127.0.0.1 unless you run and trust that host.",
                id="ws_routes.W014",
            )
        )
    half = half_configured(configured, environ)
    if half is not None:
        problems.append(
            Warning(
                f"Only half of the setup points at a local gateway: {half}.",
                hint='Set WS_ROUTES["LOCAL_GATEWAY"] = "http://127.0.0.1:8001" (runwsgateway '
                "prints it) and drop the AWS_ENDPOINT_URL_* variables and the "
                "MANAGEMENT_ENDPOINT / AWS_ENDPOINT_URL_APIGATEWAYV2 settings: one setting "
                "points sends, syncroutes and the admin's Sync routes at it.",
                id="ws_routes.W013",
            )
        )
    return problems


def _near_miss_problems() -> list[Any]:
    """A top-level setting named like ``WS_ROUTES`` but not it (``WS_ROUTE``): nothing reads it."""
    return [
        Error(
            f"settings.{name} is not read by ws_routes (the setting is WS_ROUTES"
            + (", which is also set" if hasattr(settings, "WS_ROUTES") else ", which is unset")
            + f"): every value in {name} is ignored.",
            hint=f"Rename {name} to WS_ROUTES (merge the two dicts if both are set).",
            id=NEAR_MISS_SETTING_ID,
        )
        for name in near_miss_names(dir(settings))
    ]


def _lambda_gateway_problems(configured: dict[str, Any]) -> list[Any]:
    """``LAMBDA_GATEWAYS``: None, or a list of ``"apiId/stage"`` / ``"apiId"`` (issue 21)."""
    value = configured.get("LAMBDA_GATEWAYS")
    if value is None:
        return []
    hint = 'Write ["a1b2c3d4e5/production"], or None to use the ApiGateway rows.'
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        return [
            Error(
                f"WS_ROUTES['LAMBDA_GATEWAYS'] must be None or a list, not {type(value).__name__}.",
                hint=hint,
                id="ws_routes.E010",
            )
        ]
    return [
        Error(
            f"WS_ROUTES['LAMBDA_GATEWAYS'][{index}] = {entry!r} is not \"apiId/stage\" or "
            '"apiId" (the Lambda handler refuses every event while it is).',
            hint=hint,
            id="ws_routes.E010",
        )
        for index, entry in enumerate(value)
        if lambda_gateway_entry(entry) is None
    ]


def _history_budget_problems(configured: dict[str, Any]) -> list[Any]:
    """``HISTORY_MAX_AGE_SECONDS`` and ``HISTORY_NEW_CHANNELS_PER_USER`` (issue 19 item 3)."""
    problems: list[Any] = []
    age = configured.get("HISTORY_MAX_AGE_SECONDS", DEFAULTS["HISTORY_MAX_AGE_SECONDS"])
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or age < 1):
        problems.append(
            Error(
                f"WS_ROUTES['HISTORY_MAX_AGE_SECONDS'] must be None or seconds >= 1, not {age!r}.",
                id="ws_routes.E008",
            )
        )
    budget = configured.get(
        "HISTORY_NEW_CHANNELS_PER_USER", DEFAULTS["HISTORY_NEW_CHANNELS_PER_USER"]
    )
    if budget is not None and not (
        isinstance(budget, (list, tuple))
        and len(budget) == 2
        and all(type(n) is int and n >= 1 for n in budget)
    ):
        problems.append(
            Error(
                "WS_ROUTES['HISTORY_NEW_CHANNELS_PER_USER'] must be None or (channels, seconds), "
                f"two integers >= 1, not {budget!r}.",
                id="ws_routes.E009",
            )
        )
    return problems
