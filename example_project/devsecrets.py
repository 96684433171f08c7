"""This checkout's own development secrets, generated once (never commit the file)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def dev_secrets(path: Path) -> dict[str, str]:
    """A SECRET_KEY and a gateway secret, generated into ``path`` the first time.

    ``runserver`` and ``runwsgateway`` run as two processes: both read the gateway secret from
    here, so they agree without anyone copying it. ``O_EXCL`` makes the first writer win, and
    the file is readable by its owner only.

    Example: ``SECRET_KEY = dev_secrets(BASE_DIR / ".dev-secrets.json")["secret_key"]``.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(Path(path).read_text())
    values = {"secret_key": secrets.token_urlsafe(50), "gateway_secret": secrets.token_urlsafe(32)}
    with os.fdopen(fd, "w") as file:
        json.dump(values, file)
    return values
