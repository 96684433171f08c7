"""Faults the local gateway's ``@connections`` API can inject, to test senders under failure.

API Gateway's management API sometimes answers 500, throttles with 429 and times out; a sender
must retry those and count what it could not deliver. ``runwsgateway --management-faults``
makes the emulator do the same for a share of the posts (``bench/soak.py`` uses it)::

    --management-faults '{"500": 0.02, "429": 0.02, "hang": 0.005, "hang_seconds": 5,
                          "after": 30, "for": 20}'

A hung post is held ``hang_seconds`` and then answered 504 without being delivered, so a
sender whose timeout is shorter retries it. ``after``/``for`` (seconds from the gateway's start)
bound the window in which faults happen; outside it every post is answered normally.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

#: The keys ``parse`` accepts, and what each is.
FAULT_KEYS = {
    "500": "share of posts answered 500 InternalServerErrorException",
    "429": "share of posts answered 429 LimitExceededException (throttled)",
    "hang": "share of posts held hang_seconds, then answered 504, not delivered",
    "hang_seconds": "how long a hung post is held (default 5)",
    "after": "seconds after the start before faults begin (default 0)",
    "for": "seconds faults last once begun (default: until the gateway stops)",
}
MAX_HANG_SECONDS = 120.0


@dataclass(frozen=True)
class ManagementFaults:
    """Shares (0..1, together at most 1) of ``POST @connections`` that fail, and when."""

    error_share: float = 0.0
    throttle_share: float = 0.0
    hang_share: float = 0.0
    hang_seconds: float = 5.0
    after: float = 0.0
    duration: float | None = None
    started: float = field(default_factory=time.monotonic, compare=False)

    def __post_init__(self) -> None:
        shares = (self.error_share, self.throttle_share, self.hang_share)
        for value in (*shares, self.hang_seconds, self.after):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"fault values must be numbers, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"fault values must be finite and >= 0, got {value!r}")
        if any(share > 1 for share in shares) or sum(shares) > 1:
            raise ValueError("fault shares must each be in 0..1 and add up to at most 1")
        if self.hang_seconds > MAX_HANG_SECONDS:
            raise ValueError(f"hang_seconds must be at most {MAX_HANG_SECONDS:g}")
        if self.duration is not None and (
            isinstance(self.duration, bool)
            or not isinstance(self.duration, (int, float))
            or not math.isfinite(self.duration)
            or self.duration < 0
        ):
            raise ValueError(f"'for' must be a finite number >= 0, got {self.duration!r}")

    @classmethod
    def parse(cls, text: str) -> ManagementFaults:
        """From the JSON object of ``--management-faults``; ``ValueError`` naming what is wrong."""
        try:
            spec: Any = json.loads(text)
        except (ValueError, RecursionError):
            raise ValueError("--management-faults must be a JSON object") from None
        if not isinstance(spec, dict) or not spec:
            raise ValueError("--management-faults must be a non-empty JSON object")
        unknown = sorted(set(spec) - set(FAULT_KEYS))
        if unknown:
            known = ", ".join(f"{key} ({what})" for key, what in FAULT_KEYS.items())
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {known}")
        return cls(
            error_share=spec.get("500", 0.0),
            throttle_share=spec.get("429", 0.0),
            hang_share=spec.get("hang", 0.0),
            hang_seconds=spec.get("hang_seconds", 5.0),
            after=spec.get("after", 0.0),
            duration=spec.get("for"),
        )

    def active(self, now: float | None = None) -> bool:
        elapsed = (time.monotonic() if now is None else now) - self.started
        if elapsed < self.after:
            return False
        return self.duration is None or elapsed < self.after + self.duration

    def draw(self, roll: float | None = None) -> str | None:
        """``"500"``, ``"429"``, ``"hang"`` or ``None`` (answer normally) for one post."""
        if not self.active():
            return None
        roll = random.random() if roll is None else roll
        for name, share in (
            ("500", self.error_share),
            ("429", self.throttle_share),
            ("hang", self.hang_share),
        ):
            if roll < share:
                return name
            roll -= share
        return None
