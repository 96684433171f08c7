""":class:`SendResult`: what one send did to each of its recipients."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SendResult:
    """What happened to each recipient of one send: every one is counted exactly once.

    ``gone`` recipients had disconnected (410) and are now marked ``connected=False`` (but for
    sessions under 30 s old, which may still be inside their ``$connect``: see
    ``sending/api.py``);
    ``failed`` ones could not be reached after retries (their sessions are left as they were).
    ``deferred`` is true when the send waits for ``transaction.on_commit``: nothing is counted yet.

    Example::

        result = session.channel_members().send({"text": "hi"})
        if result.failed:
            logger.warning("not delivered to %s", result.failed_ids)
    """

    delivered: int = 0
    gone: int = 0
    failed: int = 0
    gone_ids: list[str] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    deferred: bool = False

    @property
    def total(self) -> int:
        """Recipients accounted for: ``delivered + gone + failed``."""
        return self.delivered + self.gone + self.failed

    def __add__(self, other: SendResult) -> SendResult:
        if not isinstance(other, SendResult):
            return NotImplemented
        return SendResult(
            delivered=self.delivered + other.delivered,
            gone=self.gone + other.gone,
            failed=self.failed + other.failed,
            gone_ids=self.gone_ids + other.gone_ids,
            failed_ids=self.failed_ids + other.failed_ids,
            deferred=self.deferred or other.deferred,
        )
