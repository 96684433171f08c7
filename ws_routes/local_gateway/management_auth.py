"""Who may use the local gateway's ``@connections`` API: holders of its SigV4 key, never a page.

Credentials come from, in order: what the gateway is started with (``management_credentials``,
``runwsgateway --access-key-id/--secret-access-key``), the environment (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, which is also what Django's sender signs with, so one export serves
both), or a pair generated for this run and printed, for loopback only.

Example::

    credentials = resolve_management_credentials(None, "127.0.0.1", os.environ)
    credentials.keys        # {"AKIDLOCAL...": "..."}
    credentials.generated   # True when neither was given
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ManagementCredentials:
    """Access key id → secret key accepted on ``@connections``; where they came from."""

    keys: Mapping[str, str] = field(repr=False)
    source: str  # "configured", "environment" or "generated"

    @property
    def generated(self) -> bool:
        return self.source == "generated"

    def first(self) -> tuple[str, str]:
        """One (access key id, secret key) pair, e.g. to print or to hand to a client."""
        return next(iter(self.keys.items()))


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` reaches only this machine (``localhost``, 127/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def generate_credentials() -> dict[str, str]:
    """A fresh pair shaped like AWS's (20-character id, 40-character secret)."""
    alphabet = string.ascii_uppercase + string.digits
    key_id = "AKIALOCAL" + "".join(secrets.choice(alphabet) for _ in range(11))
    return {key_id: secrets.token_urlsafe(30)}


def _check(keys: Mapping[str, str]) -> dict[str, str]:
    checked = dict(keys)
    if not checked:
        raise ValueError("management_credentials must hold at least one access key")
    for key_id, secret in checked.items():
        if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
            raise ValueError("management_credentials maps non-empty key ids to non-empty secrets")
    return checked


def resolve_management_credentials(
    configured: Mapping[str, str] | None, host: str, environ: Mapping[str, str]
) -> ManagementCredentials:
    """The credentials ``@connections`` requests must be signed with (see the module's doc).

    Raises ``ValueError`` for a non-loopback ``host`` with no credentials given: a generated
    pair is printed to the console, which is no way to protect a port others can reach.
    """
    if configured is not None:
        return ManagementCredentials(_check(configured), "configured")
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return ManagementCredentials({key_id: secret}, "environment")
    if not is_loopback(host):
        raise ValueError(
            f"Refusing to serve the @connections API on {host!r} without credentials: anyone "
            "who can reach that address could post to, read and close every socket. Pass "
            "--access-key-id/--secret-access-key (or management_credentials=), or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or bind 127.0.0.1."
        )
    return ManagementCredentials(generate_credentials(), "generated")
