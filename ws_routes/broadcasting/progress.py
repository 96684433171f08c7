"""A one-line progress bar of a broadcast: total, delivered, gone, failed, rate.

Example: ``print(progress_line(broadcast, elapsed=3.2))`` gives
``[#########-----------] 45% 4500/10000 delivered 4400 gone 90 failed 10 1406/s``.
"""

from __future__ import annotations

from .records import Broadcast


def progress_line(broadcast: Broadcast, elapsed: float, width: int = 20) -> str:
    """The bar of ``broadcast`` as it was last read, ``elapsed`` seconds after it started."""
    done = broadcast.accounted
    if broadcast.total is None:
        return f"[{'-' * width}] recipients not counted yet (the start task counts them)"
    total = broadcast.total
    share = done / total if total else 1.0
    filled = int(share * width)
    rate = done / elapsed if elapsed > 0 else 0.0
    line = (
        f"[{'#' * filled}{'-' * (width - filled)}] {share:4.0%} {done}/{total} "
        f"delivered {broadcast.delivered} gone {broadcast.gone} failed {broadcast.failed}"
    )
    if broadcast.cancelled:
        line += f" cancelled {broadcast.cancelled}"
    return f"{line} {rate:.0f}/s"
