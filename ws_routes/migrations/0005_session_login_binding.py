from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ws_routes", "0004_gateway_sync_digest")]

    operations = [
        migrations.AddField(
            model_name="websocketsession",
            name="login_binding",
            field=models.CharField(blank=True, default="", editable=False, max_length=128),
        ),
    ]
