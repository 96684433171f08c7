from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Mounts the views on routers, autodiscovers ``ws.py`` modules, registers the checks and
    the login signals."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .login_signals import connect_login_signals
        from .routing import ViewMount, autodiscover, mount_views
        from .views import make_gateway_view, router_urlpatterns

        mount_views(ViewMount(make_gateway_view, router_urlpatterns))
        connect_login_signals()
        autodiscover()
