from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Mounts the views on routers, autodiscovers ``ws.py`` modules and registers the checks."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .compat import checks as compat_checks  # noqa: F401  (the reference's settings)
        from .routing import ViewMount, autodiscover, mount_views
        from .views import make_gateway_view, router_urlpatterns

        mount_views(ViewMount(make_gateway_view, router_urlpatterns))
        autodiscover()
