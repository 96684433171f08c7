"""``manage.py demousers``: create the demo's two users (idempotent; resets their passwords)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

#: (username, password): two users, so that two browsers can chat with each other.
DEMO_USERS = (("demo", "demo"), ("demo2", "demo2"))
#: The staff user of /admin/ (the gateway, its routes, live sessions).
DEMO_ADMIN = ("admin", "admin")


class Command(BaseCommand):
    help = (
        "Create the demo users demo/demo, demo2/demo2 and the staff user admin/admin "
        "(again: resets their passwords)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        for username, password in DEMO_USERS:
            user, created = user_model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.save()
            self.stdout.write(f"{'created' if created else 'reset'} user {username}/{password}")
        username, password = DEMO_ADMIN
        admin, created = user_model.objects.get_or_create(username=username)
        admin.set_password(password)
        admin.is_active = admin.is_staff = admin.is_superuser = True
        admin.save()
        self.stdout.write(f"{'created' if created else 'reset'} staff user {username}/{password}")
