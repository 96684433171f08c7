"""Hypothesis profiles: bounded in ``make test``, deeper where CI asks for it.

``WS_ROUTES_HYPOTHESIS_PROFILE=deep`` (CI) runs 20 times the examples; the default ``bounded``
profile keeps ``make test`` fast. No example database is written (the suite leaves no files).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_VARIABLE = "WS_ROUTES_HYPOTHESIS_PROFILE"
_COMMON = {
    "deadline": None,  # real sockets and a real database: timing varies on a shared machine
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

settings.register_profile("bounded", max_examples=40, **_COMMON)
settings.register_profile("deep", max_examples=800, **_COMMON)
settings.load_profile(os.environ.get(PROFILE_VARIABLE, "bounded"))
