#!/usr/bin/env python
"""The example chat's manage.py (``make demo`` runs it): ``python example_project/manage.py``."""

import os
import sys
from pathlib import Path


def main() -> None:
    here = Path(__file__).resolve().parent
    # Import the project as the package ``example_project`` (as the test suite does), never its
    # apps as top-level modules: put the repository root first on the path instead of this folder.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
