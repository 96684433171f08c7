from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Autodiscovers ``ws.py`` modules, registers the system checks and the login signals."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .login_signals import connect_login_signals
        from .routing import autodiscover

        connect_login_signals()
        autodiscover()
