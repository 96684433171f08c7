"""``BroadcastShard.checkpoint_pk``: the last primary key a shard's running attempt recorded
(every ``SHARD_CHECKPOINT`` posts, with the counts so far), where a redelivery resumes.

A nullable column: existing shards have none and are sent from their start, as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ws_routes", "0010_session_api_gateway")]

    operations = [
        migrations.AddField(
            model_name="broadcastshard",
            name="checkpoint_pk",
            field=models.BigIntegerField(
                blank=True,
                null=True,
                help_text="Last primary key sent, as of the last checkpoint (resumed after).",
            ),
        ),
    ]
