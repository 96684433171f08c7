"""The reference's ``send_message`` keyword arguments, accepted by the ``send_message`` aliases.

``WebSocketSession.objects.filter(...).send_message(data, max_workers=10)`` is the reference's
call. Here concurrency is ``WS_ROUTES["SEND_CONCURRENCY"]`` for the whole process, so
``max_workers`` is checked as the reference checks it (an integer of at least 1, else
``ValueError``) and then ignored, with one ``DeprecationWarning`` per process naming the setting.
Any other keyword is a ``TypeError``, as it was in the reference.

Example: ``check_send_options({"max_workers": 10})`` warns once and returns.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

#: Keyword -> why it is ignored (what to use instead).
REFERENCE_SEND_OPTIONS = {
    "max_workers": "concurrency is WS_ROUTES['SEND_CONCURRENCY'] for the whole process",
}
_warned: set[str] = set()
_lock = threading.Lock()


def check_send_options(options: Mapping[str, Any]) -> None:
    """Validate the reference's keywords for ``send_message``; warn once for each one ignored."""
    unknown = sorted(set(options) - set(REFERENCE_SEND_OPTIONS))
    if unknown:
        raise TypeError(f"send_message() got unexpected keyword arguments: {', '.join(unknown)}")
    if "max_workers" in options:
        workers = options["max_workers"]
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise TypeError("max_workers must be an integer")
        if workers < 1:
            raise ValueError("max_workers must be at least 1")
    for name in sorted(options):
        with _lock:
            if name in _warned:
                continue
            _warned.add(name)
        warnings.warn(
            f"send_message({name}=...) is ignored: {REFERENCE_SEND_OPTIONS[name]}.",
            DeprecationWarning,
            stacklevel=3,
        )


def forget_warnings() -> None:
    """Warn again next time (tests)."""
    with _lock:
        _warned.clear()
