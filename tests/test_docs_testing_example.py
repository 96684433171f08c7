"""The test module docs/testing-your-project.md shows is run as it is (issue 26 item 7).

Its one ``python`` block is written to a file and run by pytest in a child process (channel
rules are global: the page's rules must not leak into this session), on SQLite, so the page
cannot drift from the library.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "testing-your-project.md"


def page_module(text: str) -> str:
    """The page's python block (exactly one: the module)."""
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(blocks) == 1, f"expected one python block in {PAGE.name}, found {len(blocks)}"
    return blocks[0]


def run_module(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "test_docs_example.py"
    module.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # its own SQLite
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--rootdir={ROOT}",
            "-c",
            str(ROOT / "pyproject.toml"),
            str(module),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_testing_pages_module_runs_and_passes(tmp_path):
    code = page_module(PAGE.read_text())
    assert "def test_a_refused_connect" in code and "channel.subscribe" in code
    assert "background=True" in code
    result = run_module(code, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b5 passed\b", result.stdout), result.stdout[-2000:]


def test_a_broken_example_fails(tmp_path):
    # The runner itself: an assertion the library does not meet makes the test fail.
    code = page_module(PAGE.read_text()).replace(
        "assert refused.response.status_code == 403", "assert refused.response.status_code == 200"
    )
    result = run_module(code, tmp_path)
    assert result.returncode != 0 and "1 failed" in result.stdout
