from django.apps import AppConfig


class WsRoutesAdminConfig(AppConfig):
    """Django admin for gateways, their routes and WebSocket sessions."""

    name = "contrib_admin"
    label = "ws_routes_admin"
    verbose_name = "WebSocket routes admin"
