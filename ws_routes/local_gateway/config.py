"""What the local gateway is configured with, and API Gateway's own limits as defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .faults import ManagementFaults
from .ids import new_connection_id

KB = 1024

#: API Gateway WebSocket quotas (AWS docs, "Quotas for configuring and running a WebSocket API").
AWS_MAX_MESSAGE_BYTES = 128 * KB
AWS_MAX_FRAME_BYTES = 32 * KB
AWS_IDLE_TIMEOUT_SECONDS = 10 * 60.0
AWS_MAX_LIFETIME_SECONDS = 2 * 60 * 60.0
AWS_INTEGRATION_TIMEOUT_SECONDS = 29.0
AWS_MAX_URL_LENGTH = 4096


@dataclass(frozen=True)
class GatewayConfig:
    """Settings of one local gateway; every limit defaults to API Gateway's.

    ``target`` is the URL API Gateway's integration would POST to (where ``router.urls`` is
    mounted); ``secret`` is sent as ``X-Ws-Secret``. Both configure the quick-start stage
    (``stage``) that answers while nothing is deployed there; ``None``: only deployments
    answer. ``state_file``: where the control plane keeps what was deployed (JSON).
    ``lambda_handlers`` maps a Lambda function (ARN, name, or ``"*"``: any) to the
    in-process ``handler(event, context)`` that answers for it: AWS_PROXY integrations
    deployed here invoke it, and with ``"*"`` and no ``target`` the quick-start stage does.
    ``route_keys`` are the routes the emulated
    API has (``None``: any string action is a route); other actions go to ``$default``.
    ``management_credentials`` maps access key id → secret key: ``@connections`` requests must
    carry a valid SigV4 signature by one of them (``None``: the environment's
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, else a generated pair, loopback only).

    Example::

        GatewayConfig(target="http://127.0.0.1:8000/ws/", secret="s3cret", port=0, idle_timeout=1)
    """

    target: str | None = None
    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8001
    route_selection_key: str = "action"
    route_keys: frozenset[str] | None = None
    api_id: str = "localws001"
    stage: str = "local"
    idle_timeout: float = AWS_IDLE_TIMEOUT_SECONDS
    max_lifetime: float = AWS_MAX_LIFETIME_SECONDS
    integration_timeout: float = AWS_INTEGRATION_TIMEOUT_SECONDS
    max_message_bytes: int = AWS_MAX_MESSAGE_BYTES
    max_frame_bytes: int = AWS_MAX_FRAME_BYTES
    # Not AWS quotas, the emulator's own bounds: integration calls in flight per connection
    # (reading from the socket pauses beyond it), bytes queued toward a client before
    # @connections answers 429 LimitExceededException, seconds to wait for a close handshake
    # (and for a slow client to take a frame).
    max_inflight_per_connection: int = 64
    max_client_buffer_bytes: int = 1024 * KB
    close_timeout: float = 2.0
    # Seconds an HTTP connection may sit without a complete request: a slow (slowloris)
    # handshake, or a keep-alive @connections connection between requests.
    http_idle_timeout: float = 30.0
    connection_id_factory: Callable[[], str] = field(default=new_connection_id, repr=False)
    management_credentials: Mapping[str, str] | None = field(default=None, repr=False)
    state_file: str | None = None
    # Injected failures of POST @connections (faults.py); None: none, as on a healthy AWS.
    management_faults: ManagementFaults | None = None
    lambda_handlers: Mapping[str, Callable[..., Any]] | None = field(default=None, repr=False)

    @property
    def quick_start_lambda(self) -> Callable[..., Any] | None:
        """The handler the quick-start stage invokes (no ``target``, a ``"*"`` handler)."""
        if self.target is not None or not self.lambda_handlers:
            return None
        return self.lambda_handlers.get("*")

    def __post_init__(self) -> None:
        if self.target is not None:
            self._check_target()
        elif self.secret is not None:
            raise ValueError("secret without target: the secret is sent to the target")
        for key, handler in (self.lambda_handlers or {}).items():
            if not isinstance(key, str) or not key or not callable(handler):
                raise ValueError(f"lambda_handlers maps function names to callables: {key!r}")
        for name, value in (("api_id", self.api_id), ("stage", self.stage)):
            if any(ch in value for ch in "\r\n\0") or not value.isprintable():
                raise ValueError(f"{name} must be printable text on one line")
        if not self.stage or not all(ch.isalnum() or ch in "-_" for ch in self.stage):
            raise ValueError(f"stage must be 1+ characters from a-z A-Z 0-9 - _: {self.stage!r}")
        self._check_limits()

    def _check_target(self) -> None:
        assert self.target is not None
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"target must be an http(s) URL, got {self.target!r}")
        if parts.fragment:
            raise ValueError(f"target must not have a #fragment: {self.target!r}")
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError(
                "secret is required: the first of WS_ROUTES['GATEWAY_SECRETS'] (X-Ws-Secret)"
            )
        if any(ch in self.secret for ch in "\r\n\0") or not self.secret.isprintable():
            raise ValueError("secret must be printable text on one line")

    def _check_limits(self) -> None:
        if not self.route_selection_key:
            raise ValueError("route_selection_key must not be empty")
        for name in (
            "idle_timeout",
            "max_lifetime",
            "integration_timeout",
            "close_timeout",
            "http_idle_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in (
            "max_message_bytes",
            "max_frame_bytes",
            "max_inflight_per_connection",
            "max_client_buffer_bytes",
        ):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port!r}")
        if self.route_keys is not None:
            object.__setattr__(self, "route_keys", frozenset(_check_keys(self.route_keys)))


def _check_keys(keys: Iterable[str]) -> Iterable[str]:
    for key in keys:
        if not isinstance(key, str) or not key:
            raise ValueError(f"route keys must be non-empty strings, got {key!r}")
        yield key
