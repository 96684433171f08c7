from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Autodiscovers ``ws.py`` modules, registers the system checks and the auto-sync."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers the checks)
        from .management import auto_sync  # the composition root wires the top layer in
        from .routing import autodiscover

        autodiscover()
        post_migrate.connect(auto_sync.sync_after_migrate, sender=self)
