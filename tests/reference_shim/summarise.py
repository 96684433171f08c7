"""Per-module pass/fail counts of a JUnit XML report, checked against classification.toml.

Usage: ``python summarise.py report.xml EXPECTED_PASSES [classification.toml]``

Exit 1 when a failing test matches no rule of the classification, when more tests classified
``gap`` fail than the classification's ``known_gaps`` (a gap is something a user's code could
hit: each gets fixed, and the count only goes down), or when fewer tests pass than the
``EXPECTED_PASSES`` floor.
"""

from __future__ import annotations

import fnmatch
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

KINDS = ("deliberate", "internal", "gap")
HERE = Path(__file__).resolve().parent


def load_rules(path: str | Path) -> list[dict[str, Any]]:
    """The ``[[rule]]`` tables of ``path``, each checked for its keys (ValueError if wrong)."""
    import tomllib  # Python 3.11+: the reference-tests target runs on the project's Python

    with open(path, "rb") as handle:
        rules = tomllib.load(handle).get("rule", [])
    for number, rule in enumerate(rules, 1):
        problems = rule_problems(rule)
        if problems:
            raise ValueError(f"{path} rule {number}: {'; '.join(problems)}")
    return rules


def known_gaps(path: str | Path) -> int:
    """The classification's ``known_gaps``: how many gap tests may still fail (0 by default)."""
    import tomllib

    with open(path, "rb") as handle:
        count = tomllib.load(handle).get("known_gaps", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"{path}: known_gaps must be a count, not {count!r}")
    return count


def rule_problems(rule: dict[str, Any]) -> list[str]:
    """What is wrong with one rule's shape (empty when it is well formed)."""
    problems = []
    allowed = {"kind", "tests", "because", "reason", "docs", "heading"}
    if set(rule) - allowed:
        problems.append(f"unknown keys {sorted(set(rule) - allowed)}")
    if rule.get("kind") not in KINDS:
        problems.append(f"kind must be one of {KINDS}, not {rule.get('kind')!r}")
    tests = rule.get("tests")
    if not tests or not isinstance(tests, list) or not all(isinstance(t, str) and t for t in tests):
        problems.append("tests must be a non-empty list of node-id globs")
    if not isinstance(rule.get("reason"), str) or len(rule.get("reason", "").strip()) < 20:
        problems.append("reason must say why (at least 20 characters)")
    if "because" in rule:
        try:
            re.compile(rule["because"])
        except (re.error, TypeError) as error:
            problems.append(f"because is not a regular expression: {error}")
    if rule.get("kind") == "deliberate":
        if not isinstance(rule.get("docs"), str) or not isinstance(rule.get("heading"), str):
            problems.append("a deliberate rule names the docs file and heading that say so")
    elif "docs" in rule or "heading" in rule:
        problems.append("only deliberate rules cite docs")
    return problems


def classify(node: str, message: str, rules: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first rule whose glob matches ``node`` and whose ``because`` is in ``message``."""
    for rule in rules:
        if not any(fnmatch.fnmatchcase(node, glob) for glob in rule["tests"]):
            continue
        if "because" in rule and not re.search(rule["because"], message):
            continue
        return rule
    return None


def main(report: str, floor_file: str, rules_file: str = str(HERE / "classification.toml")) -> int:
    rules = load_rules(rules_file)
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    unclassified: list[str] = []
    gaps: list[str] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        classname = case.get("classname", "?")
        module = classname.rsplit(".", 1)[0]
        if case.find("skipped") is not None:
            continue
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            passed[module] += 1
            continue
        failed[module] += 1
        node = f"{classname}::{case.get('name', '?')}"
        message = problem.get("message") or ""
        rule = classify(node, message, rules)
        if rule is None:
            unclassified.append(f"{node}: {message.splitlines()[0][:200] if message else ''}")
            continue
        kinds[rule["kind"]] += 1
        if rule["kind"] == "gap":
            gaps.append(f"{node}: {rule['reason']}")
    for module in sorted(set(passed) | set(failed)):
        print(f"{module:60} {passed[module]:4} passed {failed[module]:4} failed")
    total_passed, total_failed = sum(passed.values()), sum(failed.values())
    print(f"reference-tests: {total_passed} passed, {total_failed} failed", end="")
    print(" (" + ", ".join(f"{kinds[k]} {k}" for k in KINDS) + ")")
    status = 0
    for line in unclassified:
        print(f"unclassified failure (add a rule to {rules_file}): {line}")
        status = 1
    allowed_gaps = known_gaps(rules_file)
    for line in gaps:
        print(f"known gap, still failing (fix it): {line}")
    if len(gaps) > allowed_gaps:
        print(f"gap still failing: {len(gaps)} gap tests fail, {allowed_gaps} are known")
        status = 1
    elif len(gaps) < allowed_gaps:
        print(f"{allowed_gaps - len(gaps)} fewer gaps than known_gaps: lower it in {rules_file}")
    floor = int(Path(floor_file).read_text().split()[0])
    if total_passed < floor:
        print(f"fewer than the {floor} passes in {floor_file}: compatibility regressed")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
