"""The reference package's tables, for tests of ``import_reference_data``.

A minimal copy of the schema that django-aws-api-gateway-websockets 4.1.0's migrations
(0001_initial ... 0015_alter_apigateway_provisioning_status) leave behind, taken from its
``models.py``: same table names, columns and types, with only the fields the import reads.
The models live in their own ``Apps`` registry so they never join ours; :func:`create_tables`
makes the tables with the schema editor (SQLite and PostgreSQL alike), :func:`drop_tables`
removes them.
"""

from __future__ import annotations

from typing import Any

from django.apps.registry import Apps
from django.db import connection, models
from django.db.backends.utils import truncate_name

APP = "django_aws_api_gateway_websockets"
reference_apps = Apps()


class ApiGateway(models.Model):
    api_name = models.CharField(max_length=255, unique=True)
    api_description = models.CharField(max_length=255, blank=True, default="")
    default_channel_name = models.CharField(max_length=128, blank=True, default="")
    domain_name = models.CharField(max_length=255, blank=True, default="")
    target_base_endpoint = models.URLField(null=True, blank=True, default=None)
    certificate_arn = models.CharField(max_length=255, blank=True, default="")
    hosted_zone_id = models.CharField(max_length=32, blank=True, default="")
    api_key_selection_expression = models.CharField(
        max_length=255, default="$request.header.x-api-key"
    )
    route_selection_expression = models.CharField(max_length=255, default="$request.body.action")
    route_key = models.CharField(max_length=255, default="$default")
    stage_name = models.CharField(max_length=63, default="production", blank=True)
    stage_description = models.CharField(max_length=63, default="", blank=True)
    deployment_id = models.CharField(max_length=32, default="", blank=True)
    tags = models.JSONField(blank=True, default=dict)
    api_id = models.CharField(max_length=32, blank=True, default="")
    api_endpoint = models.CharField(max_length=255, blank=True, default="")
    api_gateway_domain_name = models.CharField(max_length=255, blank=True, default="")
    api_mapping_id = models.CharField(max_length=128, blank=True, default="")
    api_created = models.BooleanField(default=False)
    custom_domain_created = models.BooleanField(default=False)
    provisioning_status = models.CharField(max_length=16, default="pending")
    last_error = models.CharField(max_length=255, blank=True, default="")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = APP
        apps = reference_apps
        db_table = f"{APP}_apigateway"


class ApiGatewayAdditionalRoute(models.Model):
    api_gateway = models.ForeignKey(ApiGateway, on_delete=models.CASCADE)
    name = models.CharField(max_length=63)
    route_key = models.CharField(max_length=64, db_index=True)
    integration_url = models.URLField()
    deployed = models.BooleanField(default=False)
    route_id = models.CharField(max_length=32, blank=True, default="")
    integration_id = models.CharField(max_length=32, blank=True, default="")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = APP
        apps = reference_apps
        db_table = f"{APP}_apigatewayadditionalroute"


class ChannelPermission(models.Model):
    channel_name = models.CharField(max_length=128, unique=True)
    access = models.CharField(max_length=16, default="allow_all")
    description = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        app_label = APP
        apps = reference_apps
        db_table = f"{APP}_channelpermission"


class ChannelPermissionRule(models.Model):
    channel_permission = models.ForeignKey(
        ChannelPermission, on_delete=models.CASCADE, related_name="rules"
    )

    class Meta:
        app_label = APP
        apps = reference_apps
        db_table = f"{APP}_channelpermissionrule"


class ChannelPermissionRulePermissions(models.Model):
    """The reference's ``ChannelPermissionRule.permissions`` M2M table, written out.

    ``permission_id`` is a plain integer here (the reference's is a foreign key to
    ``auth_permission``): a foreign key across two app registries cannot be resolved.
    """

    channelpermissionrule = models.ForeignKey(ChannelPermissionRule, on_delete=models.CASCADE)
    permission_id = models.IntegerField()

    class Meta:
        app_label = APP
        apps = reference_apps
        # Django names an M2M table like this, shortened with a hash past the database's limit.
        db_table = truncate_name(
            f"{APP}_channelpermissionrule_permissions", connection.ops.max_name_length()
        )


class WebSocketSession(models.Model):
    # The reference's connection_id is unique; not here, so a test can hold the duplicates a
    # hand-edited table could. user_id is the reference's FK column, without the constraint.
    connection_id = models.CharField(max_length=255)
    channel_name = models.CharField(max_length=255, blank=True, default="")
    user_id = models.IntegerField(null=True, blank=True)
    connected = models.BooleanField(default=True)
    api_gateway = models.ForeignKey(ApiGateway, null=True, on_delete=models.SET_NULL)
    request_count = models.PositiveBigIntegerField(default=1)
    session_key_hash = models.CharField(max_length=64, blank=True, default="")
    auth_hash = models.CharField(max_length=64, blank=True, default="")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = APP
        apps = reference_apps
        db_table = f"{APP}_websocketsession"


MODELS: list[Any] = [
    ApiGateway,
    ApiGatewayAdditionalRoute,
    WebSocketSession,
    ChannelPermission,
    ChannelPermissionRule,
    ChannelPermissionRulePermissions,
]


def create_tables() -> None:
    with connection.schema_editor() as editor:
        for model in MODELS:
            editor.create_model(model)


def drop_tables() -> None:
    with connection.schema_editor() as editor:
        for model in reversed(MODELS):
            editor.delete_model(model)
