"""Compatibility with ``django-aws-api-gateway-websockets`` (the reference package).

Each module has one job and sits at the layer of what it adapts, so a low layer may import a
low one (``conf`` reads :mod:`.reference_settings`); this ``__init__`` imports nothing.

- :mod:`.reference_settings`: ``WEBSOCKETS`` and ``AWS_*`` settings as fallbacks of ``WS_ROUTES``.
- :mod:`.send_options`: the reference's ``send_message`` keyword arguments.
- :mod:`.channel_rules`: ``ChannelPermission``-style rules for channel authorisation.
- :mod:`.view`: ``WebSocketView`` (also importable as ``ws_routes.views.WebSocketView``).
- :mod:`.mixins`: the reference's template-context mixins.
- :mod:`.url_layout`: the reference's ``path("ws/<slug:route>", View.as_view())`` layout.
- :mod:`.checks`: system checks naming what to change for each deliberate difference.
- :mod:`.reference_data`: ``manage.py import_reference_data``.
- :mod:`.channel_subscription`, :mod:`.exception_mail`, :mod:`.handler_names`,
  :mod:`.old_integrations`: the view's helpers, one job each.

See docs/migrating.md.
"""
