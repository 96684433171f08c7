from django.apps import AppConfig


class WsRoutesConfig(AppConfig):
    """Mounts the views on routers, autodiscovers ``ws.py`` modules, registers the checks and
    the auto-sync and the login signals."""

    name = "ws_routes"
    label = "ws_routes"
    verbose_name = "WebSocket routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks, route_checks  # noqa: F401  (registers the checks)
        from .channels import membership
        from .compat import checks as compat_checks  # noqa: F401  (the reference's settings)
        from .login_signals import connect_login_signals
        from .management import auto_sync  # the composition root wires the top layer in
        from .management import emit as template_check  # noqa: F401  (the template drift check)
        from .models import install_channel_membership
        from .routing import ViewMount, autodiscover, mount_views
        from .views import make_gateway_view, router_urlpatterns

        mount_views(ViewMount(make_gateway_view, router_urlpatterns))
        install_channel_membership(membership)
        connect_login_signals()
        autodiscover()
        post_migrate.connect(auto_sync.sync_after_migrate, sender=self)
