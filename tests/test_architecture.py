"""The house rules of docs/architecture.md, checked: layering, no import cycles, module size.

Imports are read from the source (every ``import`` statement, at module level, inside functions
and under ``TYPE_CHECKING`` alike), so a cycle hidden in a function body fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ws_routes", "contrib_admin")
MAX_LINES = 450

# Lowest first; a module may import only from its own layer or below (docs/architecture.md).
# Keys are module names or package prefixes; the longest matching key wins.
LAYERS: dict[str, int] = {
    # 1 foundation: no Django models, no I/O; what every layer may use.
    "ws_routes": 1,  # the public facade re-exports (edges into its own package are not counted)
    "ws_routes.contract": 1,
    "ws_routes.conf": 1,
    "ws_routes.errors": 1,
    "ws_routes.schemas": 1,
    "ws_routes.endpoint_override": 1,
    "ws_routes.aws_partitions": 1,
    "ws_routes.handlers": 1,
    "ws_routes.body_validators": 1,
    "ws_routes.schema_fast": 1,
    "ws_routes.pydantic_body": 1,
    "ws_routes.validation": 1,
    "ws_routes.typed": 1,
    "ws_routes.channel_rules": 1,
    "ws_routes.channel_overlap": 1,
    "ws_routes.library_pushes": 1,
    "ws_routes.checks": 1,
    "ws_routes.setting_types": 1,
    "ws_routes.schema_keywords": 1,
    "ws_routes.message_parsing": 1,
    "ws_routes.replies": 1,
    "ws_routes.token_sql": 1,
    "ws_routes.log_filters": 1,
    # 2 the registry
    "ws_routes.routing": 2,
    "ws_routes.route": 1,
    "ws_routes.route_checks": 2,  # checks of the registered routes (permission=) and migrations
    # 3 the management-API sender (works on the rows it is given; never imports models)
    "ws_routes.sending": 3,
    # 4 the tables
    "ws_routes.models": 4,
    "ws_routes.gateway_endpoints": 4,
    "ws_routes.channel_models": 4,
    "ws_routes.session_query": 4,
    "ws_routes.session_row": 4,
    "ws_routes.session_close": 4,
    "ws_routes.session_save": 4,
    "ws_routes.broadcasting": 4,  # Broadcast records, shards, enqueue: given querysets, no models
    "ws_routes.requests": 4,
    # 5 who may connect (tokens, origins, rate limits)
    "ws_routes.security": 5,
    "ws_routes.login_signals": 5,
    # 6 channels: authorise, subscribe, presence, history
    "ws_routes.channels": 6,
    # 7 the request side: the generated view, the test client, the AsyncAPI document and page
    "ws_routes.views": 7,
    "ws_routes.testing": 7,
    "ws_routes.testing_waits": 7,
    "ws_routes.lambda_events": 7,
    "ws_routes.lambda_handler": 7,
    "ws_routes.aws_lambda": 7,  # the Lambda entry point: events into the same view
    "ws_routes.asyncapi": 7,
    # 8 provisioning (plan -> apply)
    "ws_routes.deploy": 8,
    "ws_routes.deploy.cloudformation": 8,  # the desired state as a CloudFormation template
    "ws_routes.deploy.template_file": 8,  # a template file against the registry
    # 9 background delivery: the Celery tasks
    "ws_routes.tasks": 9,
    # 10 the local gateway (a development tool)
    "ws_routes.local_gateway": 10,
    # 11 the composition root: commands, auto-sync and the AppConfig that wires the seams
    "ws_routes.management": 11,
    "ws_routes.apps": 11,
    # the reference package's compatibility layer: each module at the layer of what it adapts
    "ws_routes.compat": 1,
    "ws_routes.compat.reference_settings": 1,
    "ws_routes.compat.send_options": 1,
    "ws_routes.compat.channel_rules": 1,
    "ws_routes.compat.exception_mail": 1,
    "ws_routes.compat.handler_names": 1,
    "ws_routes.compat.old_integrations": 1,
    "ws_routes.compat.url_layout": 2,
    "ws_routes.compat.channel_subscription": 4,
    "ws_routes.compat.mixins": 4,
    "ws_routes.compat.reference_data": 5,
    "ws_routes.compat.reference_sessions": 5,  # CONNECTION_ID_PATTERN (security)
    "ws_routes.compat.view": 7,
    "ws_routes.compat.direct_calls": 7,
    "ws_routes.compat.bare_view": 7,
    "ws_routes.compat.checks": 7,
    # contrib_admin sits on top of everything
    "contrib_admin": 12,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _internal(name: str) -> str | None:
    """The project module ``name`` refers to (its longest known prefix), or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path, node)
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = [name for name in submodules if name in MODULES]
                if len(targets) < len(submodules):
                    targets.append(base)  # a name defined in ``base`` itself
            for target in targets:
                internal = _internal(target)
                if internal and internal != module:
                    graph[module].add(internal)
    return graph


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of ``edges`` closes (each as the path that closes it)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its own submodules is not a cycle of jobs: drop the edges
    # from a package to modules inside it, and keep every other edge (submodule -> __init__ counts).
    edges = {
        module: {t for t in targets if not t.startswith(module + ".")}
        for module, targets in import_graph().items()
    }
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """The checker itself: a function-level import that closes a loop is reported."""
    tree = ast.parse("def f():\n    from .views import make_view\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    path = ROOT / "ws_routes" / "routing.py"
    assert _resolve("ws_routes.routing", path, node) == "ws_routes.views"
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def _layer(module: str) -> int | None:
    best = None
    for key, layer in LAYERS.items():
        inside = module.startswith(key + ".") and key not in PACKAGES  # a facade is not a prefix
        if (module == key or inside) and (best is None or len(key) > len(best[0])):
            best = (key, layer)
    return best[1] if best else None


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m.startswith("ws_routes") and _layer(m) is None]
    assert not missing, f"give these a layer in LAYERS and docs/architecture.md: {missing}"


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for module, targets in import_graph().items():
        mine = _layer(module)
        for target in targets:
            theirs = _layer(target)
            if target.startswith(module + "."):
                continue  # a package re-exporting its own parts
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f"{module} (layer {mine}) imports {target} (layer {theirs})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}): split it"
