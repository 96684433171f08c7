"""Auto-sync on deploy: sync after ``migrate``, and a check that the last sync is current.

- ``WS_ROUTES["SYNC_ON_MIGRATE"] = True`` syncs every ``ApiGateway`` with
  ``sync_on_migrate=True`` after ``migrate`` (deploy pipelines run ``migrate``).
- Every successful sync made through :func:`sync_and_record` stores the digest of the registry
  (the desired state: routes, schemas, mappings, secret, target) on the gateway.
- ``manage.py check --deploy`` warns (``ws_routes.W010``) for a gateway whose registry no
  longer matches its last sync. It computes the digest from Django alone: no AWS call.

Example::

    result = sync_and_record(gateway, prune=True)   # what syncroutes and the admin call
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from typing import Any

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError
from django.utils import timezone

from .. import deploy
from ..conf import ws_setting
from ..models import ApiGateway

logger = logging.getLogger("ws_routes.deploy")

STALE_SYNC_CHECK_ID = "ws_routes.W010"


def registry_digest(gateway: ApiGateway) -> str:
    """SHA-256 of what a sync of ``gateway`` would push (``PlanError`` if it cannot be computed)."""
    desired = asdict(deploy.desired_state(gateway))
    desired.pop("warnings", None)
    for integration in desired["integrations"].values():
        if integration.get("integration_type") == "HTTP_PROXY":  # digests as before issue 21
            del integration["integration_type"]
    text = json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_sync(gateway: ApiGateway) -> None:
    """Remember that ``gateway`` is in sync with the registry as it is now."""
    digest = registry_digest(gateway)
    now = timezone.now()
    ApiGateway.objects.filter(pk=gateway.pk).update(registry_digest=digest, registry_synced_on=now)
    gateway.registry_digest, gateway.registry_synced_on = digest, now


def sync_and_record(gateway: ApiGateway, **options: Any) -> deploy.SyncResult:
    """:func:`ws_routes.deploy.sync_gateway`, then the digest of a sync that went through."""
    result = deploy.sync_gateway(gateway, **options)
    if not result.dry_run:
        record_sync(gateway)
    return result


def sync_marked_gateways(stdout: Any = None) -> list[str]:
    """Sync every gateway marked ``sync_on_migrate``; returns the names that failed."""
    failures = []
    for gateway in ApiGateway.objects.filter(sync_on_migrate=True).order_by("pk"):
        try:
            result = sync_and_record(gateway)
        except deploy.DeployError as error:
            logger.error("auto-sync of %s failed: %s", gateway.api_name, error)
            if stdout is not None:
                stdout.write(f"  ws_routes: sync of {gateway.api_name} FAILED: {error}\n")
            failures.append(gateway.api_name)
            continue
        if stdout is not None:
            stdout.write(f"  ws_routes: {deploy.sync_report(result)[-1]}\n")
    return failures


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` receiver (connected for this app only, so it runs once per migrate)."""
    if not ws_setting("SYNC_ON_MIGRATE"):
        return  # (an empty migration plan still syncs: the code may have changed alone)
    using = kwargs.get("using", "default")
    if using != "default":
        return
    failures = sync_marked_gateways(kwargs.get("stdout"))
    if failures:
        # A deploy pipeline must not go on silently with a gateway that does not match.
        raise deploy.DeployError(
            f"WS_ROUTES['SYNC_ON_MIGRATE']: sync failed for {', '.join(failures)}; run "
            "`manage.py syncroutes` for details (the migrations themselves were applied)."
        )


@register(Tags.compatibility, deploy=True)
def check_registry_synced(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when a gateway's registry moved on since its last recorded sync."""
    warnings: list[Warning] = []
    try:
        gateways = list(ApiGateway.objects.exclude(registry_digest="").order_by("pk"))
    except DatabaseError:  # no table yet (before the first migrate): nothing was synced
        return []
    for gateway in gateways:
        try:
            current = registry_digest(gateway)
        except deploy.DeployError as error:
            current = f"unplannable: {error}"
        if current != gateway.registry_digest:
            warnings.append(
                Warning(
                    f"Gateway {gateway.api_name!r}: the route registry changed since its last "
                    f"sync ({gateway.registry_synced_on:%Y-%m-%d %H:%M} UTC).",
                    hint="Run `manage.py syncroutes` (or set WS_ROUTES['SYNC_ON_MIGRATE'] and "
                    "mark the gateway sync_on_migrate) so API Gateway matches the code.",
                    obj=gateway,
                    id=STALE_SYNC_CHECK_ID,
                )
            )
    return warnings
