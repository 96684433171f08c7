"""Gateways and their routes, open WebSocket sessions, and one-time connect tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any, Literal, Protocol, overload

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# Sends go through the package's attributes (sending.send_to_...) so that
# WsTestClient.capture can patch them; the sending package never imports this module.
from . import sending
from .aws_partitions import LAMBDA_FUNCTION_ARN
from .broadcasting.records import Broadcast, BroadcastShard  # noqa: F401 - models of this app
from .compat.send_options import check_send_options
from .conf import ws_setting, ws_settings
from .gateway_endpoints import GatewayEndpoints
from .sending import SendResult
from .token_sql import SpentToken, delete_returning

logger = logging.getLogger("ws_routes")


class ApiGateway(models.Model):
    """One API Gateway WebSocket API (and its stage) whose backend is this Django project.

    The fields mirror the seed package's so existing admin data carries over; the AWS ids are
    filled in by provisioning (``createApiGateway``, ``syncroutes``).
    """

    class ProvisioningStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        API_CREATED = "api_created", "API created"
        ROUTES_CREATED = "routes_created", "Routes created"
        DEPLOYED = "deployed", "Deployed"
        DOMAIN_CREATED = "domain_created", "Custom domain created"
        MAPPED = "mapped", "Custom domain mapped"

    api_name = models.CharField(max_length=128, unique=True)
    api_description = models.CharField(max_length=1024, blank=True, default="")
    default_channel_name = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="Channel given to connections that ask for none.",
    )
    domain_name = models.CharField(
        max_length=255, blank=True, default="", help_text="Custom domain, e.g. ws.example.com"
    )
    target_base_endpoint = models.URLField(
        max_length=512,
        blank=True,
        default="",
        help_text="Public URL where the router is mounted, e.g. https://www.example.com/ws/",
    )
    target_lambda_arn = models.CharField(
        max_length=256,
        blank=True,
        default="",
        validators=[
            RegexValidator(rf"\A(?:{LAMBDA_FUNCTION_ARN.pattern})\Z", "Not a Lambda function ARN.")
        ],
        help_text="A Lambda function ARN: every route becomes an AWS_PROXY integration invoking "
        "it (handler ws_routes.aws_lambda.handler) instead of an HTTP_PROXY to the URL above.",
    )
    certificate_arn = models.CharField(max_length=2048, blank=True, default="")
    hosted_zone_id = models.CharField(max_length=64, blank=True, default="")
    api_key_selection_expression = models.CharField(
        max_length=255, default="$request.header.x-api-key"
    )
    route_selection_expression = models.CharField(max_length=255, default="$request.body.action")
    route_key = models.CharField(max_length=128, default="$default")
    stage_name = models.CharField(max_length=128, default="production")
    stage_description = models.CharField(max_length=1024, blank=True, default="")
    region = models.CharField(
        max_length=32, blank=True, default="", help_text="Blank: WS_ROUTES['REGION']."
    )
    tags = models.JSONField(blank=True, default=dict)

    # What AWS gave back.
    api_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    api_endpoint = models.CharField(max_length=512, blank=True, default="")
    integration_id = models.CharField(max_length=64, blank=True, default="")
    deployment_id = models.CharField(max_length=64, blank=True, default="")
    api_gateway_domain_name = models.CharField(
        max_length=512, blank=True, default="", help_text="Point your CNAME here."
    )
    api_mapping_id = models.CharField(max_length=64, blank=True, default="")
    api_created = models.BooleanField(default=False)
    custom_domain_created = models.BooleanField(default=False)
    provisioning_status = models.CharField(
        max_length=32, choices=ProvisioningStatus.choices, default=ProvisioningStatus.PENDING
    )
    last_error = models.TextField(blank=True, default="")
    # Auto-sync (docs/auto-sync.md): synced after ``migrate`` when WS_ROUTES["SYNC_ON_MIGRATE"];
    # the digest of what was synced lets ``check --deploy`` see a registry that moved on.
    sync_on_migrate = models.BooleanField(
        default=False, help_text="Sync after every migrate when WS_ROUTES['SYNC_ON_MIGRATE']."
    )
    registry_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    registry_synced_on = models.DateTimeField(null=True, blank=True, editable=False)
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API Gateway"

    def __str__(self) -> str:
        return self.api_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep ``target_base_endpoint``'s trailing slash, as the reference package does (its
        integration URIs are the endpoint plus a route name)."""
        if self.target_base_endpoint and not self.target_base_endpoint.endswith("/"):
            self.target_base_endpoint += "/"
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "target_base_endpoint"}
        super().save(*args, **kwargs)

    def get_region(self) -> str | None:
        return self.region or ws_setting("REGION")


class GatewayRoute(models.Model):
    """A route on a gateway that is not in the registry: it points at its own integration URL.

    Rows are also how deployment state of extra routes is remembered (the seed's
    "additional routes").
    """

    api_gateway = models.ForeignKey(ApiGateway, on_delete=models.CASCADE, related_name="routes")
    route_key = models.CharField(max_length=128)
    name = models.CharField(max_length=128, blank=True, default="")
    integration_url = models.URLField(
        max_length=512,
        blank=True,
        default="",
        help_text="Blank: the router's URL (target_base_endpoint).",
    )
    route_id = models.CharField(max_length=64, blank=True, default="")
    integration_id = models.CharField(max_length=64, blank=True, default="")
    deployed = models.BooleanField(default=False)
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_gateway", "route_key"], name="ws_routes_gatewayroute_unique_key"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.route_key  # as the reference's ApiGatewayAdditionalRoute


class WebSocketSessionQuerySet(models.QuerySet["WebSocketSession"]):
    def connected(self) -> WebSocketSessionQuerySet:
        return self.filter(connected=True)

    def in_channel(self, name: str) -> WebSocketSessionQuerySet:
        """Sessions subscribed to channel ``name`` (index ``ws_routes_sub_channel``).

        Example: ``WebSocketSession.objects.in_channel("room:kitchen").send({"n": 1})``.
        """
        if not isinstance(name, str):
            raise TypeError(f"A channel name is a string, not {type(name).__name__}")
        return self.filter(subscriptions__channel=name)

    @overload
    def send(
        self, data: Any, *, on_commit: bool = False, background: Literal[False] = False
    ) -> SendResult: ...

    @overload
    def send(
        self, data: Any, *, on_commit: bool = False, background: Literal[True]
    ) -> Broadcast: ...

    @overload
    def send(
        self, data: Any, *, on_commit: bool = False, background: bool
    ) -> SendResult | Broadcast: ...

    def send(
        self, data: Any, *, on_commit: bool = False, background: bool = False
    ) -> SendResult | Broadcast:
        """Push ``data`` (JSON-serialisable) to every connected session in the queryset.

        ``background=True`` returns a :class:`Broadcast` at once; Celery workers deliver it
        (docs/background.md). Example: ``qs.filter(channel_name="lobby").send({"hi": 1})``.
        """
        if background:
            from .broadcasting.enqueue import enqueue_broadcast

            return enqueue_broadcast(self, data, on_commit=on_commit)
        return sending.send_to_queryset(
            self, data, on_commit=on_commit, endpoints=gateway_endpoints(self.db)
        )

    async def asend(self, data: Any) -> SendResult:
        """``send`` for async code: ``await qs.asend(data)``."""
        endpoints = await _agateway_endpoints(self.db)
        return await sending.asend_to_queryset(self, data, endpoints=endpoints)

    def send_message(self, data: Any, **reference_options: Any) -> SendResult:
        """The reference's name for :meth:`send`; its ``max_workers=`` is accepted (and warns)."""
        check_send_options(reference_options)
        return self.send(data)


class ChannelMembership(Protocol):
    """Joining and leaving channels (``ws_routes.channels.membership``, a higher layer).

    ``WsRoutesConfig.ready`` installs it with :func:`install_channel_membership`, so that this
    module never imports the channels package (which imports it).
    """

    def join(self, session: WebSocketSession, name: str) -> Any: ...

    def leave(self, session: WebSocketSession, name: str) -> Any: ...


_membership: ChannelMembership | None = None


def install_channel_membership(membership: ChannelMembership) -> None:
    """Install what ``session.subscribe``/``unsubscribe`` call (once, at startup)."""
    global _membership
    _membership = membership


def _installed_membership() -> ChannelMembership:
    if _membership is None:
        raise ImproperlyConfigured(
            "Channel subscriptions are wired by the ws_routes app: add 'ws_routes' to "
            "INSTALLED_APPS (its AppConfig.ready() installs them)."
        )
    return _membership


class WebSocketSession(models.Model):
    """One API Gateway connection: created on ``$connect``, marked closed on ``$disconnect``."""

    connection_id = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="websocket_sessions",
    )
    channel_name = models.CharField(max_length=128, blank=True, default="")
    api_id = models.CharField(max_length=64, blank=True, default="")
    stage = models.CharField(max_length=128, blank=True, default="")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    # The user's session auth hash at CONNECT (security.login_binding): a message acts as the
    # user only while it still matches (a password change unbinds every socket of the user).
    login_binding = models.CharField(max_length=128, blank=True, default="", editable=False)
    connected = models.BooleanField(default=True)
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # The gateway row whose api id (and stage) the connect came through, as the reference
    # package has it; set in the connect's own INSERT, empty when no row has that api id.
    api_gateway = models.ForeignKey(
        ApiGateway,
        null=True,
        blank=True,
        default=None,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    updated_on = models.DateTimeField(auto_now=True)

    objects = WebSocketSessionQuerySet.as_manager()

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """Also for the session of a connect on Django 4.2, whose INSERT (``bulk_create`` with
        ``update_conflicts``) leaves ``pk`` unset: the row is found by its connection id.

        The connect leaves ``api_gateway_id`` deferred (a subquery wrote it): reading it loads it.
        """
        if self.pk is None and self.connection_id:  # 4.2 also leaves _state.adding set
            self.pk = (
                type(self)
                ._base_manager.using(kwargs.get("using") or self._state.db)
                .filter(connection_id=self.connection_id)
                .values_list("pk", flat=True)
                .first()
            )
        super().refresh_from_db(*args, **kwargs)

    class Meta:
        indexes = [
            models.Index(fields=["channel_name", "connected"], name="ws_routes_session_channel"),
            models.Index(fields=["connected", "connected_at"], name="ws_routes_session_age"),
        ]

    def __str__(self) -> str:
        return self.connection_id

    def channel_members(self) -> WebSocketSessionQuerySet:
        """Connected sessions on this session's channel and gateway, this one included."""
        return WebSocketSession.objects.filter(
            channel_name=self.channel_name, api_id=self.api_id, stage=self.stage, connected=True
        )

    def subscribe(self, name: str) -> None:
        """Follow channel ``name`` (no authorisation: server code decides); see docs/channels.md.

        Example: ``request.websocket_session.subscribe("room:kitchen")``.
        """
        _installed_membership().join(self, name)

    def unsubscribe(self, name: str) -> None:
        """Stop following ``name``; ``WsError("not_subscribed")`` if this socket did not."""
        _installed_membership().leave(self, name)

    def disconnect(self) -> None:
        """Close this socket from code: anonymous at once, ``DELETE``d after the commit."""
        from .session_close import close_connections

        own = WebSocketSession.objects.using(self._state.db).filter(pk=self.pk)
        close_connections(own, f"socket {self.connection_id}", [self.user_id])
        self.user, self.login_binding = None, ""

    def send(self, data: Any, *, on_commit: bool = False) -> SendResult:
        """Push ``data`` to this connection: ``request.websocket_session.send({"n": 1})``."""
        endpoints = gateway_endpoints(self._state.db)
        return sending.send_to_sessions([self], data, on_commit=on_commit, endpoints=endpoints)

    async def asend(self, data: Any) -> SendResult:
        endpoints = await _agateway_endpoints(self._state.db)
        return await sending.asend_to_sessions([self], data, endpoints=endpoints)

    def send_message(self, data: Any) -> SendResult:
        """The seed's name for :meth:`send`."""
        return self.send(data)


def gateway_endpoints(using: str | None = None) -> GatewayEndpoints:
    """Where sends go: each session's posts to its own gateway's region (its ``ApiGateway``
    row), looked up once per API id per send. Pass it as ``endpoints=`` to the functions of
    ``ws_routes.sending``. Example: ``send_to_sessions(s, data, endpoints=gateway_endpoints())``.
    """
    from django.db import router

    gateways = ApiGateway._default_manager.using(using or router.db_for_read(ApiGateway))
    return GatewayEndpoints(ws_settings(), gateways)


async def _agateway_endpoints(using: str | None) -> GatewayEndpoints:
    from asgiref.sync import sync_to_async

    # boto3's region chain may be read here for the first time: blocking, so not in the loop.
    return await sync_to_async(gateway_endpoints, thread_sensitive=False)(using)


def hash_token(raw: str) -> str:
    """Tokens are stored as SHA-256: a leaked table cannot be replayed."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ConnectToken(models.Model):
    """A one-time, short-lived token that authenticates one WebSocket connect as its user."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="websocket_tokens"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"token for {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def mint(cls, user: Any) -> str:
        """Store a new token for ``user`` and return its raw value (shown once, never stored)."""
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        cls.objects.create(
            token_hash=hash_token(raw),
            user=user,
            created_at=now,
            expires_at=now + timedelta(seconds=ws_setting("TOKEN_TTL_SECONDS")),
        )
        return raw

    @classmethod
    def consume(cls, raw: str) -> Any | None:
        """The token's user if ``raw`` is valid and unused, spending it; else ``None``."""
        spent = cls.spend(raw)
        return None if spent is None else spent[0]

    @classmethod
    def spend(cls, raw: str, using: str | None = None) -> tuple[Any, SpentToken] | None:
        """``(user, spent)`` if ``raw`` is valid and unused, spending it; else ``None``.

        The first statement spends the token with a write (``DELETE ... RETURNING``), so that
        concurrent connects with one token queue on the row lock, and on SQLite on the write
        lock, instead of failing with "database is locked" when a reader inside a transaction
        (``ATOMIC_REQUESTS``) tries to become a writer: only the DELETE that removed the row
        wins. Then the user is read. ``spent.restore()`` gives the token back when the connect
        is refused for another reason.
        """
        if not isinstance(raw, str) or not 20 <= len(raw) <= 128:
            return None
        from django.db import connections, router

        alias = using or router.db_for_write(cls)
        connection = connections[alias]
        now = timezone.now()
        row: tuple[Any, ...] | None
        if connection.vendor not in ("postgresql", "sqlite") or not (
            connection.features.can_return_columns_from_insert
        ):  # no DELETE ... RETURNING: read, then delete (the DELETE still picks one winner)
            token = cls.objects.using(alias).filter(token_hash=hash_token(raw), expires_at__gt=now)
            row = token.values_list("user_id", "created_at", "expires_at").first()
            if row is not None and not token.delete()[0]:
                row = None
        else:
            row = delete_returning(connection, cls, hash_token(raw), now)
        if row is None:
            return None
        user_model: Any = cls._meta.get_field("user").related_model
        user = user_model._default_manager.using(alias).filter(pk=row[0]).first()
        if user is None or not getattr(user, "is_active", True):
            return None  # the token is spent all the same: it was this user's
        spent = SpentToken(cls, alias, hash_token(raw), *row)
        return user, spent


from .channel_models import ChannelMessage, Subscription  # noqa: E402  (their own module)

__all__ = [
    "ApiGateway",
    "ChannelMessage",
    "ConnectToken",
    "GatewayRoute",
    "Subscription",
    "WebSocketSession",
]
