"""Runs the browser client's own tests (tests/js, Node's built-in test runner, no npm packages)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).resolve().parent / "js"


def node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"v(\d+)", version.stdout.strip())
    return int(match.group(1)) if match else 0


def test_ws_routes_js():
    node = shutil.which("node")
    if node is None:
        pytest.skip("no `node` on PATH: the JS client's tests (tests/js) need Node.js 18+")
    if node_major(node) < 18:
        pytest.skip("the JS client's tests need Node.js 18+ (node:test)")
    result = subprocess.run(
        [node, "--test", *sorted(str(p) for p in JS_TESTS.glob("*.test.js"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", result.stdout, re.M), result.stdout[-2000:]
    assert re.search(r"^# fail 0$", result.stdout, re.M)
