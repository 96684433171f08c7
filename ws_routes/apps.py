from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Autodiscovers ``ws.py`` modules and registers the system checks at startup."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .compat import checks as compat_checks  # noqa: F401  (the reference's settings)
        from .routing import autodiscover

        autodiscover()
