"""The reference's ``SEND_EXCEPTION_MAIL``: mail the admins when a view fails, throttled.

At most one mail per view class and exception type every ``interval`` seconds in a process, so
a client cannot flood the admins' inbox; every exception is still logged by the core.
Example: ``mail_admins_about(type(view), error, interval=60)``.
"""

from __future__ import annotations

import threading
import time

from django.core.mail import mail_admins

_sent: dict[tuple[type, type], float] = {}
_lock = threading.Lock()


def mail_is_due(view_class: type, error: BaseException, interval: float) -> bool:
    """Whether a mail about ``error`` from ``view_class`` may go now (and note that it went)."""
    if not interval:
        return True
    key, now = (view_class, type(error)), time.monotonic()
    with _lock:
        last = _sent.get(key)
        if last is not None and now - last < interval:
            return False
        if len(_sent) >= 256:
            _sent.clear()
        _sent[key] = now
    return True


def mail_admins_about(view_class: type, error: BaseException, interval: float) -> bool:
    """Mail the admins about ``error`` unless one was sent within ``interval``; ``True`` if sent."""
    if not mail_is_due(view_class, error, interval):
        return False
    mail_admins("Unexpected Websocket Exception", str(error)[:1000], fail_silently=True)
    return True


def forget() -> None:
    """Forget the mails sent (tests)."""
    with _lock:
        _sent.clear()
