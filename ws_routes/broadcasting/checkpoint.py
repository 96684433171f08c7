"""``SHARD_CHECKPOINT``: how many posts a shard sends between two recorded checkpoints.

A shard is sent as one stream in primary key order; each time this many more recipients, from
the first, are all answered, one conditional UPDATE records the last primary key of them and
the counts so far (and renews the lease), while the next posts go on. A redelivered shard (its
worker died) resumes after the last checkpoint, so at most ``SHARD_CHECKPOINT +
SEND_CONCURRENCY`` posts (:func:`resend_bound`: the interval and the posts in flight) are sent
twice instead of the whole shard. The value is refused, with a message naming the setting, at
``manage.py check`` (``ws_routes.E025``), at ``send(background=True)`` and on the worker.

Example: ``shard_checkpoint(ws_settings())`` is 100 by default.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from ..sending import checkpoint_window

SETTING = "SHARD_CHECKPOINT"
#: The largest interval (a window of it and the posts in flight is held in memory at once).
MAX_CHECKPOINT = 100_000
CHECK_ID = "ws_routes.E025"


def shard_checkpoint(settings: dict[str, Any]) -> int:
    """The validated ``SHARD_CHECKPOINT`` of the merged ``WS_ROUTES`` settings, or
    ``ImproperlyConfigured`` saying what is wrong and what is allowed."""
    value = settings.get(SETTING, 100)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImproperlyConfigured(
            f"WS_ROUTES[{SETTING!r}] must be a whole number of posts from 1 to "
            f"{MAX_CHECKPOINT:,}, not {value!r:.80} ({type(value).__name__})"
        )
    if not 1 <= value <= MAX_CHECKPOINT:
        shown = f"{value:,}" if abs(value) < 10**30 else "a number that large"
        raise ImproperlyConfigured(
            f"WS_ROUTES[{SETTING!r}] must be from 1 to {MAX_CHECKPOINT:,} posts, not {shown} "
            "(it is how many posts a redelivered shard may send twice)"
        )
    return value


def resend_bound(settings: dict[str, Any], checkpoint: int) -> int | None:
    """The most posts a redelivery of a shard sends again (``checkpoint`` of 0: unchecked,
    None: the rest of the shard); None too when ``SEND_CONCURRENCY`` is not a number (the
    send refuses it)."""
    try:
        concurrency = int(settings["SEND_CONCURRENCY"])
    except (KeyError, TypeError, ValueError):
        return None
    return checkpoint_window(checkpoint, max(1, concurrency)) if checkpoint else None


@register()
def check_shard_checkpoint(**_: Any) -> list[Error]:
    """``ws_routes.E025``: ``SHARD_CHECKPOINT`` is not a number of posts from 1 to 100,000."""
    from django.conf import settings

    from ..conf import ws_settings

    if not isinstance(getattr(settings, "WS_ROUTES", None) or {}, dict):
        return []  # ws_routes.E001 says so
    try:
        shard_checkpoint(ws_settings())
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="The default is 100.", id=CHECK_ID)]
    return []
