"""Placeholders for the reference's names that ws_routes has no counterpart for."""

from __future__ import annotations

from typing import Any


class Missing:
    """Stands for a reference name with no ws_routes counterpart; fails when used."""

    def __init__(self, qualname: str) -> None:
        self._qualname = qualname

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self._qualname} has no ws_routes counterpart")

    __call__ = _fail

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Missing(f"{self._qualname}.{name}")

    def __repr__(self) -> str:
        return f"<Missing {self._qualname}>"


def missing_names(module: str) -> Any:
    """A module ``__getattr__`` that answers every unknown name with a :class:`Missing`."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Missing(f"{module}.{name}")

    return __getattr__
