"""Django admin for gateways, their extra routes and WebSocket sessions.

Gateways: Create gateway, Create custom domain, **Sync routes** (a page shows the plan; confirm
applies exactly that plan, or refuses if it changed meanwhile) and Rotate secret; the fields AWS
fills are read-only. Sessions: filter by connected/channel/gateway, Send message (a form) and
Disconnect (management API ``DELETE @connections``).

Add ``"contrib_admin"`` to ``INSTALLED_APPS`` (app label ``ws_routes_admin``) next to
``django.contrib.admin``; nothing else to configure.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from ws_routes import deploy
from ws_routes.conf import ws_setting
from ws_routes.deploy import custom_domain
from ws_routes.management.auto_sync import sync_and_record
from ws_routes.models import (
    ApiGateway,
    GatewayRoute,
    WebSocketSession,
    WebSocketSessionQuerySet,
)

from . import broadcasts  # noqa: F401 - registers BroadcastAdmin
from .forms import ApiGatewayForm, GatewayRouteForm, SendMessageForm

logger = logging.getLogger("ws_routes.admin")

#: What AWS (or provisioning) writes; shown, never edited.
AWS_FIELDS = (
    "api_id",
    "api_endpoint",
    "integration_id",
    "deployment_id",
    "api_gateway_domain_name",
    "api_mapping_id",
    "api_created",
    "custom_domain_created",
    "provisioning_status",
    "last_error",
    "registry_digest",
    "registry_synced_on",
    "created_on",
    "updated_on",
)


def _intermediate_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    template: str,
    action: str,
    title: str,
    **context: Any,
) -> TemplateResponse:
    """An action's own page that posts back to the same action with the same selection."""
    select_across = request.POST.get("select_across") == "1"
    pks = queryset.values_list("pk", flat=True)
    # With "select all" the selection is the filtered changelist itself (the page posts back to
    # the same URL, query string included); Django only needs one pk to accept the post.
    selected_pks = [str(pk) for pk in (pks[:1] if select_across else pks)]
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "opts": model_admin.model._meta,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": select_across,
            "selected_pks": selected_pks,
            **context,
        },
    )


class GatewayRouteInline(admin.TabularInline):
    """Extra routes: keys outside the registry, or keys sent to their own URL."""

    model = GatewayRoute
    form = GatewayRouteForm
    extra = 0
    fields = ("route_key", "name", "integration_url", "route_id", "integration_id", "deployed")
    readonly_fields = ("route_id", "integration_id", "deployed")


@admin.register(ApiGateway)
class ApiGatewayAdmin(admin.ModelAdmin):
    """Gateways, with provisioning actions (each one is also a management command)."""

    form = ApiGatewayForm
    list_display = (
        "api_name",
        "api_id",
        "stage_name",
        "provisioning_status",
        "domain_name",
        "has_error",
        "registry_synced_on",
        "updated_on",
    )
    list_filter = ("provisioning_status",)
    search_fields = ("api_name", "api_id", "domain_name")
    readonly_fields = AWS_FIELDS
    inlines = (GatewayRouteInline,)
    actions = ("create_gateway", "create_custom_domain", "sync_routes", "rotate_secret")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "api_name",
                    "api_description",
                    "target_base_endpoint",
                    "target_lambda_arn",
                    "region",
                    "stage_name",
                    "stage_description",
                    "sync_on_migrate",
                )
            },
        ),
        (
            "Routing",
            {
                "fields": (
                    "route_selection_expression",
                    "api_key_selection_expression",
                    "default_channel_name",
                )
            },
        ),
        ("Custom domain", {"fields": ("domain_name", "certificate_arn", "hosted_zone_id")}),
        ("Tags", {"fields": ("tags",), "classes": ("collapse",)}),
        ("Returned by AWS", {"fields": AWS_FIELDS}),
    )

    @admin.display(boolean=True, description="error")
    def has_error(self, gateway: ApiGateway) -> bool:
        return bool(gateway.last_error)

    def _sync(self, request: HttpRequest, gateway: ApiGateway, **options: Any) -> None:
        try:
            result = sync_and_record(gateway, **options)
        except deploy.DeployError as error:
            self.message_user(request, f"{gateway.api_name}: {error}", messages.ERROR)
            return
        self.message_user(request, deploy.sync_report(result)[-1], messages.SUCCESS)

    @admin.action(description="Create gateway in AWS (a full sync)", permissions=["change"])
    def create_gateway(self, request: HttpRequest, queryset: QuerySet) -> None:
        for gateway in queryset:
            self._sync(request, gateway)

    @admin.action(description="Create custom domain", permissions=["change"])
    def create_custom_domain(self, request: HttpRequest, queryset: QuerySet) -> None:
        for gateway in queryset:
            try:
                lines = custom_domain.create_custom_domain(gateway)
            except deploy.DeployError as error:
                self.message_user(request, f"{gateway.api_name}: {error}", messages.ERROR)
                continue
            self.message_user(request, f"{gateway.api_name}: {'; '.join(lines)}", messages.SUCCESS)

    @admin.action(description="Sync routes (shows the plan first)", permissions=["change"])
    def sync_routes(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        prune = request.POST.get("prune", "1") != "0"
        if request.POST.get("confirm") == "yes":
            for gateway in queryset:
                digest = request.POST.get(f"digest-{gateway.pk}")
                if not digest:
                    self.message_user(
                        request,
                        f"{gateway.api_name}: not synced (its plan was not shown).",
                        messages.WARNING,
                    )
                    continue
                self._sync(request, gateway, prune=prune, expected_digest=digest)
            return None
        previews = []
        for gateway in queryset:
            try:
                plan = deploy.plan_sync(gateway, prune=prune)
            except deploy.DeployError as error:
                previews.append({"gateway": gateway, "plan": None, "error": str(error)})
                continue
            previews.append({"gateway": gateway, "plan": plan, "error": ""})
        return _intermediate_page(
            self,
            request,
            queryset,
            "ws_routes_admin/sync_routes.html",
            "sync_routes",
            "Sync routes: review the plan",
            previews=previews,
            prune=prune,
            can_apply=any(p["plan"] is not None and not p["plan"].is_empty for p in previews),
        )

    @admin.action(description="Rotate the gateway secret", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        """Show a fresh secret and the steps; settings hold secrets, so nothing is stored."""
        configured = ws_setting("GATEWAY_SECRETS")
        response = _intermediate_page(
            self,
            request,
            queryset,
            "ws_routes_admin/rotate_secret.html",
            "rotate_secret",
            "Rotate the gateway secret",
            new_secret=secrets.token_urlsafe(48),
            configured_count=len(configured) if isinstance(configured, (list, tuple)) else 0,
            gateways=list(queryset),
        )
        add_never_cache_headers(response)
        return response


class ChannelFilter(admin.SimpleListFilter):
    """Channels of connected sessions (the first 100 by name; any channel works in the URL)."""

    title = "channel"
    parameter_name = "channel"
    LIMIT = 100

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            WebSocketSession.objects.filter(connected=True)
            .exclude(channel_name="")
            .order_by("channel_name")
            .values_list("channel_name", flat=True)
            .distinct()[: self.LIMIT]
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(channel_name=value)


class GatewayFilter(admin.SimpleListFilter):
    """Sessions of one gateway (its api id and stage)."""

    title = "gateway"
    parameter_name = "gateway"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        gateways = ApiGateway.objects.exclude(api_id="").order_by("api_name")
        return [(str(g.pk), g.api_name) for g in gateways]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        gateway = ApiGateway.objects.filter(pk=value).first() if value.isdigit() else None
        if gateway is None or not gateway.api_id:
            return queryset.none()
        return queryset.filter(api_id=gateway.api_id, stage=gateway.stage_name)


@admin.register(WebSocketSession)
class WebSocketSessionAdmin(admin.ModelAdmin):
    """Open and closed sessions; created by the gateway view, so read-only here."""

    list_display = (
        "connection_id",
        "user",
        "channels",
        "connected",
        "connected_at",
        "api_gateway",
        "api_id",
        "stage",
        "source_ip",
    )
    list_filter = ("connected", ChannelFilter, GatewayFilter)
    search_fields = ("connection_id", "channel_name", "subscriptions__channel")
    list_select_related = ("user", "api_gateway")
    show_full_result_count = False
    actions = ("send_message", "disconnect")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebSocketSession]:
        return super().get_queryset(request).prefetch_related("subscriptions")

    @admin.display(description="channels")
    def channels(self, session: WebSocketSession) -> str:
        """Every channel the socket follows (its subscriptions; ``?channel=`` is the first)."""
        names = sorted(sub.channel for sub in session.subscriptions.all())
        return ", ".join(names) or "-"

    @admin.action(description="Send a message to the selected sessions", permissions=["change"])
    def send_message(
        self, request: HttpRequest, queryset: WebSocketSessionQuerySet
    ) -> HttpResponse | None:
        form = SendMessageForm(request.POST if "send" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                result = queryset.send(form.cleaned_data["message"])
            except Exception as error:  # the sender talks to AWS: show, log, don't 500
                logger.exception("admin send_message failed")
                self.message_user(
                    request, f"Sending failed: {type(error).__name__}: {error}", messages.ERROR
                )
                return None
            level = messages.SUCCESS if not result.failed else messages.WARNING
            self.message_user(
                request,
                f"Message sent: {result.delivered} delivered, {result.gone} gone (now marked "
                f"disconnected), {result.failed} failed.",
                level,
            )
            return None
        return _intermediate_page(
            self,
            request,
            queryset,
            "ws_routes_admin/send_message.html",
            "send_message",
            "Send a message",
            form=form,
            recipients=queryset.filter(connected=True).count(),
            sample=list(
                queryset.filter(connected=True).values_list("connection_id", flat=True)[:20]
            ),
        )

    @admin.action(description="Disconnect the selected sessions", permissions=["change"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet) -> None:
        from ws_routes.models import gateway_endpoints
        from ws_routes.sending import disconnect_sessions

        try:
            # Each session's own gateway region, as session.send() uses.
            closed = disconnect_sessions(queryset, endpoints=gateway_endpoints(queryset.db))
        except Exception as error:  # the sender talks to AWS: show, log, don't 500
            logger.exception("admin disconnect failed")
            self.message_user(
                request, f"Disconnect failed: {type(error).__name__}: {error}", messages.ERROR
            )
            return
        self.message_user(request, f"{closed} session(s) disconnected.", messages.SUCCESS)
