"""The deployed-config router at ``/ws/`` and the admin (its "Sync routes" action)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests.e2e.deployed_urls import urlpatterns as deployed

urlpatterns = [path("admin/", admin.site.urls), *deployed]
