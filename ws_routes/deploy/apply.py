"""Apply a plan, and the one entry point of every sync: :func:`sync_gateway` (plan, lock the
gateway row, apply, deploy) and :func:`sync_report`, the lines a command or the admin shows.

Example::

    result = sync_gateway(gateway, prune=False)
    print("\n".join(sync_report(result)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..models import ApiGateway, GatewayRoute
from ..routing import Router
from . import aws
from .change import ApplyContext
from .desired import ROUTER_ROLE
from .errors import AwsCallError, DeployError, PlanChangedError
from .plan import Plan, plan_sync
from .records import AWS_STATE_FIELDS, clear_error, record_error, save_fields

#: Changes that take effect without a deployment (a Lambda's resource policy).
_NOT_DEPLOYED = ("deployment", "lambda permission")


@dataclass
class SyncResult:
    """What a sync did: the plan, how many of its changes were applied, the deployment id."""

    plan: Plan
    applied: int = 0
    dry_run: bool = False

    @property
    def deployment_id(self) -> str:
        return self.plan.gateway.deployment_id


def apply_plan(plan: Plan, *, client: Any = None) -> int:
    """Apply ``plan`` in order; returns the number of changes applied.

    On failure raises :class:`AwsCallError` naming the AWS call, the change and how far it got;
    everything applied so far stays (the next run plans only what is left). Prefer
    :func:`sync_gateway`, which also locks the gateway row. Example::

        plan = plan_sync(gateway)
        if not plan.is_empty:
            apply_plan(plan)
    """
    gateway = plan.gateway
    client = client if client is not None else aws.apigateway_client(gateway)
    ctx = ApplyContext(
        client=client,
        api_id=plan.api_id,
        integration_ids=dict(plan.integration_ids),
        route_ids=dict(plan.route_ids),
    )
    if plan.api_id and gateway.api_id != plan.api_id:
        save_fields(gateway, api_id=plan.api_id, api_created=True)
    if plan.is_empty:
        return 0
    if gateway.deployment_id and any(c.kind not in _NOT_DEPLOYED for c in plan.changes):
        # A deployment is owed from here until create_deployment succeeds.
        save_fields(gateway, deployment_id="")
    applied = 0
    for change in plan.changes:
        try:
            change.run(ctx)  # type: ignore[misc]
        except AwsCallError as error:
            error.change = change
            error.applied = applied
            _record_rows(plan, ctx)
            raise
        applied += 1
        if (
            change.kind == "route"
            and gateway.provisioning_status == ApiGateway.ProvisioningStatus.API_CREATED
        ):
            save_fields(gateway, provisioning_status=ApiGateway.ProvisioningStatus.ROUTES_CREATED)
    _record_rows(plan, ctx)
    return applied


def _record_rows(plan: Plan, ctx: ApplyContext) -> None:
    """Remember route and integration ids on the GatewayRoute rows (informational)."""
    gateway = plan.gateway
    if (
        ctx.integration_ids.get(ROUTER_ROLE)
        and gateway.integration_id != ctx.integration_ids[ROUTER_ROLE]
    ):
        save_fields(gateway, integration_id=ctx.integration_ids[ROUTER_ROLE])
    for row in gateway.routes.all():
        role = plan.row_roles.get(row.route_key)
        route_id = ctx.route_ids.get(row.route_key, "")
        integration_id = ctx.integration_ids.get(role, "") if role else ""
        if (row.route_id, row.integration_id) != (route_id, integration_id):
            GatewayRoute.objects.filter(pk=row.pk).update(
                route_id=route_id, integration_id=integration_id, updated_on=timezone.now()
            )


def sync_gateway(
    gateway: ApiGateway,
    *,
    client: Any = None,
    router: Router | None = None,
    prune: bool = True,
    dry_run: bool = False,
    expected_digest: str | None = None,
) -> SyncResult:
    """Plan, then (unless ``dry_run``) apply and deploy; the one entry point of every sync.

    The gateway row is locked (``select_for_update``) for the duration, so two syncs of one
    gateway run one after the other. ``expected_digest`` (from a plan shown to an operator)
    refuses to apply a plan that changed since. Example::

        result = sync_gateway(gateway, prune=False)
        print(result.plan, result.applied)
    """
    error: DeployError | None = None
    result: SyncResult | None = None
    with transaction.atomic():
        if connection.vendor == "sqlite":
            # SQLite has no row locks, and a transaction that reads before it writes fails at
            # once ("database is locked") when another connection wrote meanwhile. Writing first
            # takes the database's write lock, waiting for it like PostgreSQL's row lock does.
            ApiGateway.objects.filter(pk=gateway.pk).update(updated_on=F("updated_on"))
        try:
            locked = ApiGateway.objects.select_for_update().get(pk=gateway.pk)
        except ApiGateway.DoesNotExist:
            raise DeployError(f"Gateway {gateway.api_name!r} no longer exists.") from None
        try:
            result = _sync_locked(locked, client, router, prune, dry_run, expected_digest)
        except DeployError as exc:
            # Recorded, and committed with the progress made (ids of what was created).
            if not dry_run and not isinstance(exc, PlanChangedError):
                record_error(locked, exc)
            error = exc
    gateway.refresh_from_db(fields=AWS_STATE_FIELDS)
    if error is not None:
        raise error
    assert result is not None
    return result


def _sync_locked(
    gateway: ApiGateway,
    client: Any,
    router: Router | None,
    prune: bool,
    dry_run: bool,
    expected_digest: str | None,
) -> SyncResult:
    plan = plan_sync(gateway, client=client, router=router, prune=prune)
    if expected_digest is not None and plan.digest != expected_digest:
        raise PlanChangedError(
            f"The plan for {gateway.api_name!r} changed since it was shown; review it again."
        )
    if dry_run:
        return SyncResult(plan, dry_run=True)
    applied = apply_plan(plan, client=client)
    clear_error(gateway)
    return SyncResult(plan, applied=applied)


def sync_report(result: SyncResult) -> list[str]:
    """The lines a command or the admin shows for a sync: plan, warnings, notes, outcome.

    Example: ``print("\n".join(sync_report(sync_gateway(gateway))))``.
    """
    plan = result.plan
    lines = plan.lines()
    lines += [f"! {warning}" for warning in plan.warnings]
    lines += [f"# {note}" for note in plan.notes]
    if result.dry_run:
        lines.append(f"Dry run: {len(plan.changes)} change(s) planned, nothing applied.")
    elif plan.is_empty:
        lines.append(f"Gateway {plan.gateway.api_name}: in sync, nothing to do.")
    else:
        lines.append(
            f"Gateway {plan.gateway.api_name}: applied {result.applied} change(s); deployment "
            f"{result.deployment_id or '(none)'} on stage {plan.gateway.stage_name}."
        )
    return lines
