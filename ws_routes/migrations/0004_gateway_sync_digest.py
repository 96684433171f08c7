from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ws_routes", "0003_channels")]

    operations = [
        migrations.AddField(
            model_name="apigateway",
            name="sync_on_migrate",
            field=models.BooleanField(
                default=False,
                help_text="Sync after every migrate when WS_ROUTES['SYNC_ON_MIGRATE'].",
            ),
        ),
        migrations.AddField(
            model_name="apigateway",
            name="registry_digest",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="apigateway",
            name="registry_synced_on",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
