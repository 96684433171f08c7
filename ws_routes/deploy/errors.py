"""What goes wrong in a deploy, named: the :class:`DeployError` family, and secret redaction.

Example::

    try:
        sync_gateway(gateway)
    except AwsCallError as error:
        print(error.operation, error.code)   # "create_route", "BadRequestException"
"""

from __future__ import annotations

from ..conf import ws_setting
from .change import Change


class DeployError(Exception):
    """A sync or provisioning step cannot be done; the message says which and why."""


class PlanError(DeployError):
    """The desired state cannot be computed (configuration problem); no AWS call was mutated."""


class PlanChangedError(DeployError):
    """The plan shown to an operator is no longer the plan (AWS or the registry changed since)."""


class AwsCallError(DeployError):
    """An AWS call failed. ``operation`` is the boto3 method, ``code`` AWS's error code."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        self.aws_message = message
        self.change: Change | None = None
        self.applied: int = 0
        super().__init__(f"{operation} failed: {code}: {message}")

    def __str__(self) -> str:
        text = f"AWS call {self.operation} failed: {self.code}: {self.aws_message}"
        if self.change is not None:
            text = f"{text} (while applying '{self.change}'; {self.applied} change(s) before it"
            text += " were applied; run the sync again to finish, it is resumable)"
        return redact_secrets(text)


def redact_secrets(text: str) -> str:
    """Never let a configured secret reach a message, a log line or the admin."""
    for secret in configured_secrets():
        if secret:
            text = text.replace(secret, "***")
    return text


def configured_secrets() -> list[str]:
    """The strings of ``WS_ROUTES["GATEWAY_SECRETS"]`` (nothing if the setting is malformed)."""
    secrets = ws_setting("GATEWAY_SECRETS")
    if isinstance(secrets, str) or not isinstance(secrets, (list, tuple)):
        return []
    return [s for s in secrets if isinstance(s, str)]
