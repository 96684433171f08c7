"""Placeholder until the sending engine lands (branch `sending`); replaced on merge."""


def send_to_sessions(sessions, data, *, on_commit=False):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")


def send_to_queryset(queryset, data, *, on_commit=False):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")


from dataclasses import dataclass  # noqa: E402


@dataclass
class SendResult:  # placeholder: replaced by the sending engine's on merge
    delivered: int = 0
    gone: int = 0
    failed: int = 0


async def asend_to_sessions(sessions, data):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")


async def asend_to_queryset(queryset, data):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")
