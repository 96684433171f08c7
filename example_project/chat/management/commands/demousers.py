"""``manage.py demousers``: create the demo's two users (idempotent; resets their passwords)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

#: (username, password): two users, so that two browsers can chat with each other.
DEMO_USERS = (("demo", "demo"), ("demo2", "demo2"))


class Command(BaseCommand):
    help = "Create the demo users demo/demo and demo2/demo2 (again: resets their passwords)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        for username, password in DEMO_USERS:
            user, created = user_model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.save()
            self.stdout.write(f"{'created' if created else 'reset'} user {username}/{password}")
