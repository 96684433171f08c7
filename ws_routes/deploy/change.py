"""The unit of a plan: a :class:`Change` (one printable line that knows how to apply itself)
and the :class:`ApplyContext` it runs in. The lowest layer of ``ws_routes.deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApplyContext:
    """Ids learnt while applying (a created integration's id is needed by the routes after it)."""

    client: Any
    api_id: str = ""
    integration_ids: dict[str, str] = field(default_factory=dict)
    route_ids: dict[str, str] = field(default_factory=dict)

    def target(self, role: str) -> str:
        return f"integrations/{self.integration_ids[role]}"


@dataclass(frozen=True)
class Change:
    """One change, printable in one line: ``+ route chat.send``."""

    symbol: str  # "+" create, "~" update, "-" delete
    kind: str
    name: str
    details: tuple[str, ...] = ()
    run: Callable[[ApplyContext], None] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        text = f"{self.symbol} {self.kind} {self.name}"
        return f"{text}: {'; '.join(self.details)}" if self.details else text
