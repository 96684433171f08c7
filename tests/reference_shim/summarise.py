"""Per-module pass/fail counts of a JUnit XML report; exit 1 below the EXPECTED_PASSES floor.

Usage: ``python summarise.py report.xml EXPECTED_PASSES``
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def main(report: str, floor_file: str) -> int:
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "?").rsplit(".", 1)[0]
        if case.find("skipped") is not None:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed[module] += 1
        else:
            passed[module] += 1
    for module in sorted(set(passed) | set(failed)):
        print(f"{module:60} {passed[module]:4} passed {failed[module]:4} failed")
    total_passed, total_failed = sum(passed.values()), sum(failed.values())
    print(f"reference-tests: {total_passed} passed, {total_failed} failed")
    floor = int(Path(floor_file).read_text().split()[0])
    if total_passed < floor:
        print(f"fewer than the {floor} passes in {floor_file}: compatibility regressed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
