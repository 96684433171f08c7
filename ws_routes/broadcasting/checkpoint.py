"""``SHARD_CHECKPOINT``: the most posts a redelivered shard sends again.

A shard is sent as one stream in primary key order, and no post starts more than this many
recipients past its last recorded checkpoint. A redelivered shard (its worker died) resumes
after that checkpoint, so at most ``SHARD_CHECKPOINT`` posts (:func:`resend_bound`) are sent
twice instead of the whole shard. So that posts go on while a checkpoint is written, one is
recorded each time ``SHARD_CHECKPOINT - min(SEND_CONCURRENCY, SHARD_CHECKPOINT // 2)`` more
recipients, from the first, are all answered (``checkpoint_spacing``): one conditional UPDATE
of the last primary key of them, the counts so far and the lease, up to two per
``SHARD_CHECKPOINT`` posts. The value is refused, with a message naming the setting, at
``manage.py check`` (``ws_routes.E025``), at ``send(background=True)`` and on the worker.

Example: ``shard_checkpoint(ws_settings())`` is 100 by default.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from ..sending import checkpoint_spacing

SETTING = "SHARD_CHECKPOINT"
#: The largest value (a window of this many rows is held in memory at once).
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
    """The most posts a redelivery of a shard sends again: the window, ``checkpoint`` itself
    (0: unchecked, None: the rest of the shard); None too when ``SEND_CONCURRENCY`` is not a
    number (the send refuses it)."""
    try:
        concurrency = int(settings["SEND_CONCURRENCY"])
    except (KeyError, TypeError, ValueError):
        return None
    return checkpoint_spacing(checkpoint, max(1, concurrency))[1] if checkpoint else None


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
