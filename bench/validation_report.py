"""``make bench``'s validation section: runs ``validation.py`` and renders its table.

Kept apart from ``run.py`` so the comparison with the reference stays readable there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure(run_child: Callable[..., dict], messages: int, workdir: Path) -> dict[str, Any]:
    """One ``validation.py`` run on SQLite; prints a line per validator as ``run.py`` does."""
    db = f"sqlite:{workdir / 'validation.sqlite3'}"
    result = run_child("validation.py", "--db", db, "--messages", str(messages))
    for row in result["rows"]:
        print(f"  validation {row['validator']:10}: check {row['check_valid_us']} µs valid, "
              f"{row['check_invalid_us']} µs invalid; {row['messages_per_second']:>8} msg/s, "
              f"{row['queries_per_message']} queries/msg")  # fmt: skip
    if len(result["rows"]) < 2:
        print("  (Pydantic is not installed in the bench venv: jsonschema only)")
    return result


def render(result: dict[str, Any] | None, table: Callable[..., list[str]]) -> list[str]:
    if not result:
        return []
    lines = [
        "\n## Validation: the same schema as a JSON Schema (jsonschema) and a Pydantic model\n",
    ]
    lines += table(
        [
            "validator",
            "µs per check (valid)",
            "µs per check (invalid)",
            "msg/s through the view",
            "queries/msg",
            "writes/msg",
        ],
        [
            [
                row["validator"],
                f"{row['check_valid_us']:.2f}",
                f"{row['check_invalid_us']:.2f}",
                f"{row['messages_per_second']:,.0f}",
                row["queries_per_message"],
                row["writes_per_message"],
            ]
            for row in result["rows"]
        ],
    )
    lines.append(
        f"\n{result['messages']:,} messages per round on {result['db']}, best of three "
        "alternating rounds; checks are the validator alone, best of three runs of 20,000."
    )
    return lines
