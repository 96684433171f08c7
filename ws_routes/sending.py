"""Placeholder until the sending engine lands (branch `sending`); replaced on merge."""


def send_to_sessions(sessions, data, *, on_commit=False):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")


def send_to_queryset(queryset, data, *, on_commit=False):  # pragma: no cover
    raise NotImplementedError("the sending engine is not merged yet")
