"""Checks that need the apps loaded: ``permission=`` names, and unapplied migrations.

- ``ws_routes.E014``: a route's ``permission="app.codename"`` that no installed model declares
  (its ``Meta.default_permissions`` or ``Meta.permissions``). ``has_perm`` is then False for
  everyone but superusers, so the route answered ``permission_denied`` to every user, silently.
- ``ws_routes.E016``: channel patterns of two routers the project mounts that can match one
  name. Authorisation is global (``channel_rules.match_channel_globally``: the first router's
  rule judges the name for sockets of every router), so such a pair lets creation order decide
  silently. Within one router the overlap is refused at import (``ChannelRegistry``); across
  routers it is judged here, on the routers the URLconf mounts (not every ``Router()`` a
  process ever made).
- ``ws_routes.W012``: ``ws_routes`` migrations not applied to a database, which otherwise shows
  as a bare 500 on the first connect: ``manage.py check --database default`` says so. A
  warning (not an error) because ``migrate`` runs the database checks before migrating; a
  database that cannot be reached is not reported here.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import Error, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver

from .channel_overlap import common_name
from .channel_rules import is_catch_all
from .routing import Router

UNKNOWN_PERMISSION_ID = "ws_routes.E014"
CROSS_ROUTER_OVERLAP_ID = "ws_routes.E016"
UNAPPLIED_MIGRATIONS_ID = "ws_routes.W012"


def mounted_routers(patterns: Any = None) -> list[Router]:
    """The routers whose gateway view the URLconf serves, in URLconf order, each once."""
    found: list[Router] = []
    pending = list(get_resolver().url_patterns if patterns is None else patterns)
    while pending:
        entry = pending.pop(0)
        if isinstance(entry, URLResolver):
            pending[:0] = list(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            router = getattr(entry.callback, "ws_router", None)
            if isinstance(router, Router) and router not in found:
                found.append(router)
    return found


def checked_routers() -> list[Router]:
    """The default router and every router the URLconf mounts, each once."""
    from . import routing

    found: list[Router] = [routing.router]
    found += [router for router in mounted_routers() if router is not routing.router]
    return found


def declared_permissions() -> set[str]:
    """``"app_label.codename"`` of every permission the installed models declare."""
    found: set[str] = set()
    for model in apps.get_models():
        opts = model._meta
        codenames = [f"{action}_{opts.model_name}" for action in opts.default_permissions]
        codenames += [codename for codename, _ in opts.permissions]
        found.update(f"{opts.app_label}.{codename}" for codename in codenames)
    return found


def permission_problems(routers: list[Router]) -> list[Any]:
    if not apps.is_installed("django.contrib.auth"):
        return []
    known = declared_permissions()
    problems = []
    for router in routers:
        default = router.default_route
        for route in [*router.routes.values(), *([default] if default is not None else [])]:
            permission = route.permission
            if permission is None or permission in known:
                continue
            app_label = permission.partition(".")[0]
            same_app = sorted(p for p in known if p.startswith(app_label + "."))
            hint = (
                f"Permissions of {app_label}: {', '.join(same_app[:12])}."
                if same_app
                else f"No installed app has the label {app_label!r}."
            )
            problems.append(
                Error(
                    f"Route {route.key!r} of {router!r}: permission={permission!r} is declared "
                    "by no installed model, so every user but a superuser is refused.",
                    hint=hint + " A permission created only by a data migration: silence "
                    f"{UNKNOWN_PERMISSION_ID} in SILENCED_SYSTEM_CHECKS.",
                    id=UNKNOWN_PERMISSION_ID,
                )
            )
    return problems


def cross_router_overlaps(routers: list[Router]) -> list[Any]:
    """``E016`` for each pair of rules of two different routers that share a channel name."""
    problems = []
    seen: list[tuple[Router, Any]] = []
    for router in routers:
        rules = [rule for rule in router.channel_rules if not is_catch_all(rule)]
        for rule in rules:
            for other_router, other in seen:
                name = common_name(rule.pattern, other.pattern)
                if name is None:
                    continue
                problems.append(
                    Error(
                        f"Channel pattern {rule.pattern!r} of {router!r} overlaps "
                        f"{other.pattern!r} of {other_router!r} (both match {name!r}): one "
                        "rule judges a channel name whichever router a socket came through, "
                        "so the first router's would silently decide who may join it.",
                        hint="Give each router's channels a prefix of its own, or declare "
                        "both rules on one router with before=/after= (docs/channels.md).",
                        id=CROSS_ROUTER_OVERLAP_ID,
                    )
                )
        seen.extend((router, rule) for rule in rules)
    return problems


@register(Tags.security)
def check_channel_rules_across_routers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return cross_router_overlaps(checked_routers())


@register(Tags.security)
def check_route_permissions(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return permission_problems(checked_routers())


def unapplied_migrations(alias: str) -> list[str]:
    """Names of the ``ws_routes`` migrations not applied to database ``alias``."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    targets = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "ws_routes"]
    return [migration.name for migration, _ in executor.migration_plan(targets)]


@register(Tags.database)
def check_migrations_applied(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Run by ``manage.py check --database default`` (Django runs database checks only for the
    databases it is given: a plain ``check`` never opens a connection)."""
    problems = []
    for alias in kwargs.get("databases") or ():
        try:
            missing = unapplied_migrations(alias)
        except Exception:  # unreachable, or no migration table yet: migrate will say
            continue
        if missing:
            problems.append(
                Warning(
                    f"Database {alias!r} lacks {len(missing)} ws_routes migration(s) "
                    f"({', '.join(missing[:5])}): connects fail with a 500 until they are "
                    "applied.",
                    hint=f"Run: manage.py migrate ws_routes --database {alias}",
                    id=UNAPPLIED_MIGRATIONS_ID,
                )
            )
    return problems
