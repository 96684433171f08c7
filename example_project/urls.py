"""The chat pages, login/logout, and the chat router (gateway view + connect tokens) at /ws/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from example_project.chat.ws import router as chat_router
from ws_routes.asyncapi import asyncapi_urls

urlpatterns = [
    path("", include("example_project.chat.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("admin/", admin.site.urls),
    # API Gateway (here the local gateway) posts every event to /ws/; pages mint tokens at
    # /ws/token/.
    path("ws/", include(chat_router.urls)),
    # The chat's AsyncAPI document, for staff: /ws/asyncapi/ (HTML), asyncapi.json, asyncapi.yaml.
    path("ws/asyncapi/", include(asyncapi_urls(chat_router, title="Example chat"))),
]
