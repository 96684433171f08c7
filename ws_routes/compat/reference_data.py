"""Copy what a project kept in the reference package's tables into ws_routes' own.

``manage.py import_reference_data`` runs :func:`import_reference_data`. What is copied:

- ``ApiGateway`` rows (matched by ``api_name``; an existing row of ours is left as it is);
- additional routes as ``GatewayRoute`` rows (matched by gateway and ``route_key``); an
  ``integration_url`` under the gateway's ``target_base_endpoint`` pointed at the same view, so it
  is blanked (the route then uses the router's integration);
- the admin permission grants of users and groups on the reference's models, as the same grant
  on ours (``add_apigateway`` -> ``add_apigateway``, ``*_apigatewayadditionalroute`` ->
  ``*_gatewayroute``, ...).

- the connected sessions, as anonymous sessions with ``api_gateway`` mapped by api id
  (``ws_routes.compat.reference_sessions``).

Tokens are left (they expire); ``ChannelPermission`` rows have no table here and
are printed as ``WebSocketView.channel_permissions`` code. Running it again copies nothing new.
The reference's tables are read with plain SQL, so the reference need not be installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.backends.utils import truncate_name

from ..models import ApiGateway, GatewayRoute
from ..routing import ROUTE_KEY_PATTERN
from .channel_rules import ACCESS_LEVELS
from .reference_sessions import copy_connected_sessions

REFERENCE_APP = "django_aws_api_gateway_websockets"
GATEWAY_TABLE = f"{REFERENCE_APP}_apigateway"
ROUTE_TABLE = f"{REFERENCE_APP}_apigatewayadditionalroute"
CHANNEL_TABLE = f"{REFERENCE_APP}_channelpermission"
RULE_TABLE = f"{REFERENCE_APP}_channelpermissionrule"
#: The M2M table's name before Django shortens it to the database's limit (63 on PostgreSQL).
RULE_PERMISSIONS_TABLE = f"{REFERENCE_APP}_channelpermissionrule_permissions"
#: The reference's model -> ours, for permission grants.
MODEL_MAP = {
    "apigateway": "apigateway",
    "apigatewayadditionalroute": "gatewayroute",
    "websocketsession": "websocketsession",
    "websockettoken": "connecttoken",
}
#: Reference gateway columns copied as they are (ours has each with the same meaning).
GATEWAY_COLUMNS = [
    "api_name",
    "api_description",
    "default_channel_name",
    "domain_name",
    "target_base_endpoint",
    "certificate_arn",
    "hosted_zone_id",
    "api_key_selection_expression",
    "route_selection_expression",
    "route_key",
    "stage_name",
    "stage_description",
    "deployment_id",
    "tags",
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_mapping_id",
    "api_created",
    "custom_domain_created",
    "provisioning_status",
    "last_error",
]
ROUTE_COLUMNS = [
    "id",
    "api_gateway_id",
    "name",
    "route_key",
    "integration_url",
    "deployed",
    "route_id",
]
ROUTE_COLUMNS += ["integration_id"]


class ImportReport:
    """What was (or, in a dry run, would be) copied, as lines for the command to print."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.lines: list[str] = []
        self.copied = 0
        self.skipped = 0

    def copy(self, text: str) -> None:
        self.copied += 1
        self.lines.append(("would copy " if self.dry_run else "copied ") + text)

    def skip(self, text: str) -> None:
        self.skipped += 1
        self.lines.append("skipped " + text)

    def note(self, text: str) -> None:
        self.lines.append("# " + text)


def _rows(using: str, table: str, wanted: list[str]) -> list[dict[str, Any]]:
    """Rows of ``table`` with the ``wanted`` columns it has (older versions lack some)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        present = {c.name for c in connection.introspection.get_table_description(cursor, table)}
        columns = [c for c in wanted if c in present]
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        order = "id" if "id" in present else columns[0]
        cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)} ORDER BY {order}")
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _gateway_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in GATEWAY_COLUMNS:
        if name not in row:
            continue
        value = row[name]
        if name == "tags":
            value = json.loads(value) if isinstance(value, (str, bytes)) else value
            value = value if isinstance(value, dict) else {}
        elif name in ("api_created", "custom_domain_created"):
            value = bool(value)
        elif value is None:
            value = ""  # the reference's nullable target_base_endpoint
        fields[name] = value
    return fields


def _copy_gateways(using: str, report: ImportReport) -> dict[int, ApiGateway | None]:
    """Copy gateways; returns reference pk -> our gateway (``None`` for one not copied)."""
    by_reference_pk: dict[int, ApiGateway | None] = {}
    for row in _rows(using, GATEWAY_TABLE, ["id", *GATEWAY_COLUMNS]):
        fields = _gateway_fields(row)
        name = fields.get("api_name", "")
        existing = ApiGateway.objects.using(using).filter(api_name=name).first()
        if existing is not None:
            by_reference_pk[row["id"]] = existing
            report.skip(f"gateway {name!r}: already present (left as it is)")
            continue
        gateway = ApiGateway(**fields)
        try:
            gateway.full_clean(validate_unique=False)
        except ValidationError as error:
            by_reference_pk[row["id"]] = None
            report.skip(f"gateway {str(name)[:80]!r}: {_reasons(error)}")
            continue
        if not report.dry_run:
            gateway.save(using=using)
        by_reference_pk[row["id"]] = gateway
        report.copy(f"gateway {name!r} (api_id {gateway.api_id or '-'})")
    return by_reference_pk


def _reasons(error: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(m)}" for field, m in error.message_dict.items())


def _copy_routes(using: str, gateways: dict[int, ApiGateway | None], report: ImportReport) -> None:
    for row in _rows(using, ROUTE_TABLE, ROUTE_COLUMNS):
        gateway = gateways.get(row["api_gateway_id"])
        key = row.get("route_key") or ""
        if gateway is None:
            report.skip(f"route {key!r}: its gateway was not copied")
            continue
        if not ROUTE_KEY_PATTERN.fullmatch(key):
            report.skip(
                f"route {key[:80]!r} of {gateway.api_name!r}: not a route key ws_routes accepts "
                "(1 to 128 of A-Z a-z 0-9 _ . : / -, not starting with '$')"
            )
            continue
        if (
            gateway.pk
            and GatewayRoute.objects.using(using)
            .filter(api_gateway=gateway, route_key=key)
            .exists()
        ):
            report.skip(f"route {key!r} of {gateway.api_name!r}: already present")
            continue
        url = row.get("integration_url") or ""
        base = gateway.target_base_endpoint
        same_view = bool(base) and url.startswith(base)
        route = GatewayRoute(
            api_gateway=gateway,
            route_key=key,
            name=(row.get("name") or "")[:128],
            integration_url="" if same_view else url,
            route_id=row.get("route_id") or "",
            integration_id="" if same_view else (row.get("integration_id") or ""),
            deployed=bool(row.get("deployed")),
        )
        try:
            route.full_clean(exclude=["api_gateway"], validate_unique=False)
        except ValidationError as error:
            report.skip(f"route {key!r} of {gateway.api_name!r}: {_reasons(error)}")
            continue
        if not report.dry_run:
            route.save(using=using)
        where = "the router's integration" if same_view else (url or "the router's integration")
        report.copy(f"route {key!r} of {gateway.api_name!r} -> {where}")


def _copy_permission_grants(using: str, report: ImportReport) -> None:
    old_permissions = (
        Permission.objects.using(using)
        .filter(content_type__app_label=REFERENCE_APP)
        .select_related("content_type")
    )
    for old in old_permissions.order_by("codename"):
        action, _, model = old.codename.partition("_")
        new_model = MODEL_MAP.get(old.content_type.model)
        if new_model is None or model != old.content_type.model:
            grants = old.user_set.count() + old.group_set.count()
            if grants:
                report.skip(f"permission {old.codename!r} ({grants} grants): no counterpart")
            continue
        try:
            content_type = ContentType.objects.db_manager(using).get_by_natural_key(
                "ws_routes", new_model
            )
            new = Permission.objects.using(using).get(
                content_type=content_type, codename=f"{action}_{new_model}"
            )
        except (ContentType.DoesNotExist, Permission.DoesNotExist):
            report.skip(f"permission {old.codename!r}: ws_routes has no {action}_{new_model}")
            continue
        holders: list[tuple[str, Any, Any]] = [
            ("user", user, user.user_permissions)
            for user in old.user_set.using(using).order_by("pk")
        ]
        holders += [
            ("group", group, group.permissions)
            for group in old.group_set.using(using).order_by("pk")
        ]
        for holder_kind, holder, granted in holders:
            if granted.filter(pk=new.pk).exists():
                continue
            if not report.dry_run:
                granted.add(new)
            report.copy(f"grant ws_routes.{new.codename} to {holder_kind} {holder}")


def channel_permissions_code(using: str) -> list[str]:
    """The reference's ChannelPermission rows as ``channel_permissions = {...}`` lines."""
    channels = _rows(using, CHANNEL_TABLE, ["id", "channel_name", "access"])
    tables = set(connections[using].introspection.table_names())
    rules: dict[int, dict[int, list[str]]] = {}
    links_table = truncate_name(RULE_PERMISSIONS_TABLE, connections[using].ops.max_name_length())
    if {RULE_TABLE, links_table} <= tables:
        labels = {
            p.pk: f"{p.content_type.app_label}.{p.codename}"
            for p in Permission.objects.using(using).select_related("content_type")
        }
        rule_owner = {
            r["id"]: r["channel_permission_id"]
            for r in _rows(using, RULE_TABLE, ["id", "channel_permission_id"])
        }
        for link in _rows(using, links_table, ["id", "channelpermissionrule_id", "permission_id"]):
            owner = rule_owner.get(link["channelpermissionrule_id"])
            if owner is not None and link["permission_id"] in labels:
                rule = rules.setdefault(owner, {}).setdefault(link["channelpermissionrule_id"], [])
                rule.append(labels[link["permission_id"]])
    makers: dict[str, Callable[[dict[str, Any]], str]] = {
        "allow_all": lambda c: "ChannelRule.allow_all()",
        "superuser_only": lambda c: "ChannelRule.superuser_only()",
        "staff_only": lambda c: "ChannelRule.staff_only()",
        "permissions": lambda c: (
            "ChannelRule.permissions("
            + ", ".join(repr(sorted(r)) for r in rules.get(c["id"], {}).values())
            + ")"
        ),
    }
    lines = ["channel_permissions = {"]
    for channel in channels:
        access = channel["access"] if channel["access"] in ACCESS_LEVELS else "superuser_only"
        lines.append(f"    {channel['channel_name']!r}: {makers[access](channel)},")
    return [*lines, "}"] if channels else []


def import_reference_data(
    *, using: str = "default", dry_run: bool = False, batch_size: int = 500
) -> ImportReport:
    """Copy gateways, routes, permission grants and connected sessions (module docstring).

    One transaction: a failure copies nothing. Example: ``import_reference_data(dry_run=True)``.
    """
    report = ImportReport(dry_run)
    tables = set(connections[using].introspection.table_names())
    with transaction.atomic(using=using):
        gateways: dict[int, ApiGateway | None] = {}
        if GATEWAY_TABLE in tables:
            gateways = _copy_gateways(using, report)
        else:
            report.note(f"no table {GATEWAY_TABLE}: no gateways to copy")
        if ROUTE_TABLE in tables:
            _copy_routes(using, gateways, report)
        _copy_permission_grants(using, report)
        copy_connected_sessions(using, tables, report, batch_size=batch_size)
        if CHANNEL_TABLE in tables:
            code = channel_permissions_code(using)
            if code:
                report.note("ChannelPermission rows: put this on your WebSocketView subclass")
                report.note("(from ws_routes.compat.channel_rules import ChannelRule):")
                report.lines.extend(code)
        report.note("tokens are not copied: they expire")
    return report
