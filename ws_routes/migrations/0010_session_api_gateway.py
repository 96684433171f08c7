"""``WebSocketSession.api_gateway`` (the reference package's foreign key) and ``updated_on``.

Existing sessions get the gateway row whose api id (and stage, when one matches) they came
through, in batches of primary keys so a large table is not locked at once; rows of no gateway
keep it empty. Safe to re-run: only sessions without a gateway are touched.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

BATCH = 10_000


def fill_api_gateway(apps, schema_editor):
    alias = schema_editor.connection.alias
    ApiGateway = apps.get_model("ws_routes", "ApiGateway")
    WebSocketSession = apps.get_model("ws_routes", "WebSocketSession")
    sessions = WebSocketSession.objects.using(alias)
    gateways = list(
        ApiGateway.objects.using(alias).exclude(api_id="").order_by("pk").values_list(
            "pk", "api_id", "stage_name"
        )
    )
    if not gateways:
        return
    bounds = sessions.aggregate(low=models.Min("pk"), high=models.Max("pk"))
    if bounds["low"] is None:
        return
    for start in range(bounds["low"], bounds["high"] + 1, BATCH):
        batch = sessions.filter(pk__gte=start, pk__lt=start + BATCH, api_gateway__isnull=True)
        for pk, api_id, stage in gateways:  # the exact stage first, then any stage of the api
            batch.filter(api_id=api_id, stage=stage).update(api_gateway_id=pk)
        for pk, api_id, _ in gateways:
            batch.filter(api_id=api_id).update(api_gateway_id=pk)


class Migration(migrations.Migration):
    dependencies = [("ws_routes", "0009_gateway_target_lambda_arn")]

    operations = [
        migrations.AddField(
            model_name="websocketsession",
            name="api_gateway",
            field=models.ForeignKey(
                blank=True,
                default=None,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="sessions",
                to="ws_routes.apigateway",
            ),
        ),
        migrations.AddField(
            model_name="websocketsession",
            name="updated_on",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(fill_api_gateway, migrations.RunPython.noop, elidable=True),
    ]
