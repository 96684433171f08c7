"""Gateways and their routes, open WebSocket sessions, and one-time connect tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

# Sends go through the package's attributes (sending.send_to_...) so that
# WsTestClient.capture can patch them; the sending package never imports this module.
from . import sending
from .conf import ws_setting, ws_settings
from .gateway_endpoints import GatewayEndpoints
from .sending import SendResult

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
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API Gateway"

    def __str__(self) -> str:
        return self.api_name

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
        return self.route_key


class WebSocketSessionQuerySet(models.QuerySet):
    def connected(self) -> WebSocketSessionQuerySet:
        return self.filter(connected=True)

    def send(self, data: Any, *, on_commit: bool = False) -> SendResult:
        """Push ``data`` (JSON-serialisable) to every connected session in the queryset.

        Example: ``WebSocketSession.objects.filter(channel_name="lobby").send({"hi": 1})``.
        """
        return sending.send_to_queryset(
            self, data, on_commit=on_commit, endpoints=gateway_endpoints(self.db)
        )

    async def asend(self, data: Any) -> SendResult:
        """``send`` for async code: ``await qs.asend(data)``."""
        endpoints = await _agateway_endpoints(self.db)
        return await sending.asend_to_queryset(self, data, endpoints=endpoints)

    def send_message(self, data: Any) -> SendResult:
        """The seed's name for :meth:`send`."""
        return self.send(data)


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
    connected = models.BooleanField(default=True)
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    objects = WebSocketSessionQuerySet.as_manager()

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


class _Columns(NamedTuple):
    """Where one model's fields sit in the row: ``row[start:end]`` holds ``names``."""

    start: int
    end: int
    names: list[str]


class _SessionPlan(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    id_position: int  # which parameter is the connection id
    converters: dict[int, Any]  # row index -> (converter functions, expression)
    session: _Columns
    user_model: Any
    user: _Columns
    user_pk_index: int


class OpenSessionQuery:
    """The message path's one query (open session joined with its user), compiled once per
    database.

    Building and compiling a ``select_related`` query costs Django ~10 times what SQLite takes
    to run it, on every message. This keeps the SQL, the column layout and the value converters
    of that query, and maps each row with the public ``Model.from_db``. Should a future Django
    change the compiler so that the plan cannot be made, it falls back to the plain ORM query
    (still one query).
    """

    _SENTINEL = "\x00ws_routes-connection-id\x00"

    def __init__(self) -> None:
        self._plans: dict[tuple[str, str], _SessionPlan | None] = {}

    @staticmethod
    def orm_query(alias: str, connection_id: str) -> QuerySet[WebSocketSession]:
        """The query itself, as the ORM writes it."""
        return (
            WebSocketSession.objects.using(alias)
            .select_related("user")
            .filter(connection_id=connection_id, connected=True)[:1]
        )

    def _make_plan(self, alias: str) -> _SessionPlan:
        compiler = self.orm_query(alias, self._SENTINEL).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        select, klass_info = compiler.select, compiler.klass_info
        (user_info,) = klass_info["related_klass_infos"]

        def columns(info: Any) -> _Columns:
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            return _Columns(start, end, [col.target.attname for col, _, _ in select[start:end]])

        user_model = user_info["model"]
        user = columns(user_info)
        return _SessionPlan(
            sql=sql,
            params=tuple(params),
            id_position=tuple(params).index(self._SENTINEL),
            converters=compiler.get_converters([column for column, _, _ in select]),
            session=columns(klass_info),
            user_model=user_model,
            user=user,
            user_pk_index=user.start + user.names.index(user_model._meta.pk.attname),
        )

    def _plan(self, alias: str) -> _SessionPlan | None:
        from django.db import connections

        key = (alias, connections[alias].vendor)
        if key not in self._plans:
            try:
                self._plans[key] = self._make_plan(alias)
            except Exception:  # an ORM internal changed: stay correct, lose the shortcut
                logger.warning("Cannot precompile the session query; using the ORM", exc_info=True)
                self._plans[key] = None
        return self._plans[key]

    def get(self, connection_id: str, using: str | None = None) -> WebSocketSession | None:
        """The connected session for ``connection_id`` with ``.user`` loaded, or ``None``."""
        from django.db import connections, router

        alias = using or router.db_for_read(WebSocketSession)
        plan = self._plan(alias)
        if plan is None:
            return next(iter(self.orm_query(alias, connection_id)), None)
        connection = connections[alias]  # per thread: never cached in the plan
        params = list(plan.params)
        params[plan.id_position] = connection_id
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for index, (functions, expression) in plan.converters.items():
            for convert in functions:
                row[index] = convert(row[index], expression, connection)
        session = WebSocketSession.from_db(
            alias, plan.session.names, row[plan.session.start : plan.session.end]
        )
        if row[plan.user_pk_index] is not None:
            session.user = plan.user_model.from_db(
                alias, plan.user.names, row[plan.user.start : plan.user.end]
            )
        return session


#: ``open_session_query.get(connection_id)``: the one query of a message.
open_session_query = OpenSessionQuery()


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
        """The token's user if ``raw`` is valid and unused, spending it; else ``None``.

        Two statements: read the token with its user, then delete it; only the request whose
        DELETE removed the row wins, so a token raced by two connects admits one.
        """
        if not isinstance(raw, str) or not 20 <= len(raw) <= 128:
            return None
        token = (
            cls.objects.select_related("user")
            .filter(token_hash=hash_token(raw), expires_at__gt=timezone.now())
            .first()
        )
        if token is None:
            return None
        deleted, _ = cls.objects.filter(pk=token.pk).delete()
        if not deleted or not token.user.is_active:
            return None
        return token.user
