"""ws_routes.deploy keeps its layering: a module imports only the layers below it.

Every import counts, function-level ones included (the whole syntax tree is walked). The seams
other changes rely on are checked too: boto3 clients are created only in ``aws._cached_client``,
and only ``aws.call_aws`` calls a client method by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ws_routes
from ws_routes import deploy

PACKAGE = Path(deploy.__file__).parent
ROOT = Path(ws_routes.__file__).parent

#: Lowest first; a module may import only modules of a lower rank.
RANKS = {
    "change": 0,
    "errors": 1,
    "pace": 1,
    "aws": 2,
    "records": 3,
    "desired": 4,
    "custom_domain": 4,
    "iam": 4,
    "actual": 5,
    "mutations": 6,
    "lambda_permission": 6,  # the Lambda invoke permission of a gateway (issue 21)
    "plan": 7,
    "cloudformation": 7,
    "apply": 8,
    "template_file": 8,
}


def _is_module(dotted: str) -> bool:
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported_modules(path: Path) -> set[str]:
    """The ``ws_routes`` modules a file imports, absolute, wherever the import statement is."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(candidate) else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "ws_routes"}


def test_every_module_of_the_package_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(RANKS)


@pytest.mark.parametrize("module", sorted(RANKS))
def test_a_module_imports_only_lower_layers(module: str) -> None:
    for imported in _imported_modules(PACKAGE / f"{module}.py"):
        assert imported != "ws_routes.deploy", f"{module} imports the package (a cycle)"
        if imported.startswith("ws_routes.deploy."):
            other = imported.removeprefix("ws_routes.deploy.").split(".")[0]
            assert RANKS[other] < RANKS[module], f"{module} imports {other}, not a lower layer"


def test_nothing_below_deploy_imports_it() -> None:
    higher = {"management", "deploy", "local_gateway", "tasks", "testing"}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).parts
        if relative[0].removesuffix(".py") in higher or relative[0] == "migrations":
            continue
        assert not any(m.startswith("ws_routes.deploy") for m in _imported_modules(path)), path


def test_clients_are_created_and_called_in_one_place_each() -> None:
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        if path.stem != "aws":
            assert "boto3" not in text.replace("boto3 method", ""), path
            assert "getattr(client" not in text, path
    source = (PACKAGE / "aws.py").read_text()
    assert source.count("boto3.client(") == 1
    assert source.count("getattr(client, operation)") == 1


def test_the_names_users_import_are_re_exported() -> None:
    for name in deploy.__all__:
        assert getattr(deploy, name) is not None, name
    assert deploy.iam.SYNC_OPERATIONS is deploy.SYNC_OPERATIONS
    assert deploy.custom_domain.create_custom_domain is deploy.create_custom_domain
