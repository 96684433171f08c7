"""Recipients as a JSON description instead of a pickled query (docs/migrating.md).

The old ``recipients_query`` column held a pickled Django ``Query``; unpickling a row runs
whatever code the row carries, so this migration never reads it. A broadcast that is done
needs no recipients and is kept as it is. One still enqueued or running is ended ``failed``
with a reason (its pending shards too): send it again after the upgrade.
"""

from django.db import migrations, models
from django.db.models import F
from django.utils import timezone

REASON = (
    "not delivered: its recipients were stored as a pickled query, which django-ws-routes no "
    "longer reads (issue 19, docs/migrating.md); send it again"
)
DONE = ("finished", "cancelled", "failed")


def fail_broadcasts_in_flight(apps, schema_editor):
    Broadcast = apps.get_model("ws_routes", "Broadcast")
    BroadcastShard = apps.get_model("ws_routes", "BroadcastShard")
    db = schema_editor.connection.alias
    now = timezone.now()
    in_flight = Broadcast.objects.using(db).exclude(state__in=DONE)
    for broadcast in in_flight.iterator():
        shards = BroadcastShard.objects.using(db).filter(
            broadcast_id=broadcast.pk, state__in=("pending", "running")
        )
        lost = sum(shards.values_list("expected", flat=True))
        count = shards.update(state="failed", error=REASON, finished_at=now)
        total = broadcast.total if broadcast.total is not None else 0
        Broadcast.objects.using(db).filter(pk=broadcast.pk).update(
            state="failed",
            total=total,
            failed=F("failed") + lost,
            pending_shards=F("pending_shards") - count,
            error=REASON,
            finished_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ws_routes", "0006_broadcast_counted_by_worker"),
    ]

    operations = [
        migrations.AddField(
            model_name="broadcast",
            name="recipients",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(fail_broadcasts_in_flight, migrations.RunPython.noop),
        migrations.RemoveField(model_name="broadcast", name="recipients_query"),
    ]
