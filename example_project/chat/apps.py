from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The example chat: rooms are ws_routes channels; routes live in ``ws.py``."""

    name = "example_project.chat"
    label = "chat"
    default_auto_field = "django.db.models.BigAutoField"
