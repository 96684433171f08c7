"""System checks for projects moving from the reference package: each says what to change.

- ``ws_routes.W101``: a reference setting that is still read (a deprecated fallback): rename it.
- ``ws_routes.W102``: a reference setting with no counterpart, and what to do instead.
- ``ws_routes.W103``: a ``WebSocketView`` subclass sets a class attribute that works differently
  here (rate limits, header checks, body size).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

from .reference_settings import compute_fallbacks, reference_dict
from .view import WebSocketView

#: Reference settings that have no counterpart, and what to do instead.
NO_COUNTERPART = {
    "push_changes_to_aws": "saving a gateway never calls AWS here; run `manage.py syncroutes` "
    "(or the admin's sync action) to push changes.",
    "allowed_integration_hosts": "integration URLs come from target_base_endpoint and "
    "GatewayRoute rows; syncroutes prints every URL in its plan: review it with --dry-run.",
}
SETTINGS_NOT_READ = {
    "AWS_IAM_PROFILE": "set the AWS_PROFILE environment variable (boto3's credential chain).",
    "AWS_ACCESS_KEY_ID": "ws_routes signs with boto3's credential chain: set the environment "
    "variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or better, use an IAM role.",
}
#: WebSocketView attributes that work differently here -> what to change.
VIEW_ATTRIBUTES = {
    "RATE_LIMIT_ENABLED": "connect rate limits are per process-wide setting, in the cache: set "
    "WS_ROUTES['CONNECT_RATE_LIMIT'] = (attempts, seconds), or None to turn them off.",
    "RATE_LIMIT_MAX_ATTEMPTS": "set WS_ROUTES['CONNECT_RATE_LIMIT'] = (attempts, seconds).",
    "RATE_LIMIT_WINDOW_MINUTES": "set WS_ROUTES['CONNECT_RATE_LIMIT'] = (attempts, seconds).",
    "required_headers": "calls are authenticated by the gateway secret header "
    "(WS_ROUTES['GATEWAY_SECRETS']), not by the presence of headers; remove it.",
    "additional_required_headers": "as required_headers: the gateway secret is checked instead.",
    "required_connection_headers": "connects are checked by WS_ROUTES['ALLOWED_ORIGINS'] and "
    "one-time tokens; override connect() for more.",
    "CHECK_CONNECT_USERAGENT": "User-Agent can be forged; the gateway secret is checked instead.",
    "expected_useragent_prefix": "User-Agent can be forged; the gateway secret is checked instead.",
    "MAX_BODY_SIZE": "the body limit is WS_ROUTES['MAX_BODY_BYTES'] for every route.",
}


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


@register(Tags.compatibility)
def check_reference_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    configured = getattr(settings, "WS_ROUTES", None)
    configured = configured if isinstance(configured, dict) else {}
    problems: list[Any] = []
    for key, (_value, old_name) in sorted(compute_fallbacks(configured).items()):
        problems.append(
            Warning(
                f"{old_name} is a setting of django-aws-api-gateway-websockets, read as a "
                f"deprecated fallback of WS_ROUTES[{key!r}].",
                hint=f"Move the value to WS_ROUTES[{key!r}] (docs/migrating.md).",
                id="ws_routes.W101",
            )
        )
    for key in sorted(set(reference_dict()) & set(NO_COUNTERPART)):
        problems.append(
            Warning(
                f"WEBSOCKETS[{key!r}] has no counterpart in ws_routes and is not used.",
                hint=NO_COUNTERPART[key],
                id="ws_routes.W102",
            )
        )
    for name, hint in SETTINGS_NOT_READ.items():
        if getattr(settings, name, None):
            problems.append(
                Warning(
                    f"settings.{name} is not read by ws_routes.", hint=hint, id="ws_routes.W102"
                ),
            )
    return problems


@register(Tags.compatibility)
def check_websocket_views(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for view_class in _subclasses(WebSocketView):
        for name, hint in VIEW_ATTRIBUTES.items():
            if name in vars(view_class):
                problems.append(
                    Warning(
                        f"{view_class.__module__}.{view_class.__qualname__}.{name} is not used "
                        "by ws_routes.",
                        hint=hint,
                        obj=view_class,
                        id="ws_routes.W103",
                    )
                )
    return problems
