"""Background broadcasts: a send split into keyset shards that any worker can deliver.

Modules, lowest first: :mod:`.records` (the ``Broadcast`` and ``BroadcastShard`` models and
their state changes), :mod:`.shards` (keyset ranges), :mod:`.publish` (Celery by task name),
:mod:`.runner` (plain functions: start a broadcast, run a shard), :mod:`.enqueue` (what
``queryset.send(data, background=True)`` calls), :mod:`.progress` (the command's progress
line). This is the models layer: it imports :mod:`ws_routes.sending`, never
:mod:`ws_routes.tasks` (the Celery glue above it) or ``ws_routes.models``.

Example::

    broadcast = WebSocketSession.objects.filter(channel_name="lobby").send(data, background=True)
"""
