"""tests/reference_shim/classification.toml and the summarise.py that enforces it (issue 23).

Fast and offline: the reference's suite itself runs only under ``make reference-tests``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("tomllib")  # the reference-tests target runs on Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "tests" / "reference_shim"
_spec = importlib.util.spec_from_file_location("reference_summarise", SHIM / "summarise.py")
assert _spec and _spec.loader
summarise = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summarise)

RULES = summarise.load_rules(SHIM / "classification.toml")


def headings(path: Path) -> set[str]:
    return {
        match.group(1).strip()
        for match in re.finditer(r"^#+\s+(.+)$", path.read_text(encoding="utf-8"), re.M)
    }


def test_every_rule_is_well_formed_and_says_why():
    assert RULES, "the classification has rules"
    assert {rule["kind"] for rule in RULES} <= set(summarise.KINDS)
    for rule in RULES:
        assert summarise.rule_problems(rule) == [], rule


@pytest.mark.parametrize(
    "rule", [r for r in RULES if r["kind"] == "deliberate"], ids=lambda r: r["reason"][:40]
)
def test_every_deliberate_rule_cites_a_docs_heading_that_exists(rule):
    page = ROOT / rule["docs"]
    assert rule["docs"].startswith("docs/") and page.is_file(), rule["docs"]
    assert rule["heading"] in headings(page), (rule["docs"], rule["heading"])


@pytest.mark.parametrize(
    "rule, problem",
    [
        ({"kind": "bug", "tests": ["a"], "reason": "x" * 30}, "kind must be"),
        ({"kind": "internal", "tests": [], "reason": "x" * 30}, "tests must be"),
        ({"kind": "internal", "tests": "tests.*", "reason": "x" * 30}, "tests must be"),
        ({"kind": "internal", "tests": ["a"], "reason": "because"}, "reason must"),
        ({"kind": "internal", "tests": ["a"], "reason": "x" * 30, "because": "("}, "regular"),
        ({"kind": "deliberate", "tests": ["a"], "reason": "x" * 30}, "names the docs"),
        ({"kind": "gap", "tests": ["a"], "reason": "x" * 30, "docs": "docs/x.md"}, "only delib"),
        ({"kind": "gap", "tests": ["a"], "reason": "x" * 30, "note": 1}, "unknown keys"),
    ],
)
def test_a_malformed_rule_is_refused_with_the_reason(tmp_path, rule, problem):
    assert any(problem in line for line in summarise.rule_problems(rule))
    path = tmp_path / "c.toml"
    path.write_text('[[rule]]\nkind = "bug"\ntests = ["a"]\nreason = "x"\n')
    with pytest.raises(ValueError, match="rule 1"):
        summarise.load_rules(path)


def test_a_rule_matches_by_glob_and_by_the_failure_message():
    rules = [
        {"kind": "internal", "tests": ["m.C::test_a*"], "because": "_private", "reason": "r"},
        {"kind": "gap", "tests": ["m.*"], "reason": "r"},
    ]
    assert summarise.classify("m.C::test_ab", "no attribute '_private'", rules) is rules[0]
    # the same test failing for another reason is not the recorded reason
    assert summarise.classify("m.C::test_ab", "AssertionError: 1 != 2", rules) is rules[1]
    assert summarise.classify("other.C::test_ab", "_private", rules) is None


def report(tmp_path: Path, cases: list[tuple[str, str, str | None]]) -> str:
    rows = []
    for classname, name, failure in cases:
        inner = f'<failure message="{failure}">trace</failure>' if failure else ""
        rows.append(f'<testcase classname="{classname}" name="{name}">{inner}</testcase>')
    path = tmp_path / "report.xml"
    path.write_text(f"<testsuites><testsuite>{''.join(rows)}</testsuite></testsuites>")
    return str(path)


@pytest.mark.parametrize(
    "failure, floor, status, said",
    [
        ("has no attribute '_private'", 1, 0, "1 passed, 1 failed (0 deliberate, 1 internal"),
        ("AssertionError: 1 != 2", 1, 1, "unclassified failure"),
        ("a user hits this", 1, 1, "gap still failing"),
        ("has no attribute '_private'", 2, 1, "fewer than the 2 passes"),
    ],
)
def test_summarise_fails_on_unclassified_gaps_and_a_lower_pass_count(
    tmp_path, capsys, failure, floor, status, said
):
    rules = tmp_path / "c.toml"
    rules.write_text(
        '[[rule]]\nkind = "internal"\ntests = ["m.C::*"]\nbecause = "_private"\n'
        'reason = "patches a private name of the reference"\n'
        '[[rule]]\nkind = "gap"\ntests = ["m.C::*"]\nbecause = "user"\n'
        'reason = "something a user could hit, not fixed"\n'
    )
    floor_file = tmp_path / "EXPECTED_PASSES"
    floor_file.write_text(f"{floor}\n")
    xml = report(tmp_path, [("m.C", "test_ok", None), ("m.C", "test_bad", failure)])
    assert summarise.main(xml, str(floor_file), str(rules)) == status
    assert said in capsys.readouterr().out


@pytest.mark.parametrize("known, status", [(0, 1), (1, 0), (2, 0)])
def test_known_gaps_is_a_ceiling_on_the_gap_tests_that_fail(tmp_path, capsys, known, status):
    rules = tmp_path / "c.toml"
    rules.write_text(
        f"known_gaps = {known}\n"
        '[[rule]]\nkind = "gap"\ntests = ["m.C::*"]\n'
        'reason = "something a user could hit, not fixed"\n'
    )
    floor_file = tmp_path / "EXPECTED_PASSES"
    floor_file.write_text("1\n")
    xml = report(tmp_path, [("m.C", "test_ok", None), ("m.C", "test_bad", "a user hits this")])
    assert summarise.main(xml, str(floor_file), str(rules)) == status
    out = capsys.readouterr().out
    assert "known gap, still failing (fix it): m.C::test_bad" in out
    assert ("lower it" in out) == (known == 2)


@pytest.mark.parametrize("value", ["-1", "true", '"3"', "1.5"])
def test_known_gaps_must_be_a_count(tmp_path, value):
    rules = tmp_path / "c.toml"
    rules.write_text(f"known_gaps = {value}\n")
    with pytest.raises(ValueError, match="known_gaps must be a count"):
        summarise.known_gaps(rules)


def test_the_floor_file_is_a_count():
    assert int((SHIM / "EXPECTED_PASSES").read_text().split()[0]) > 0
