from django.contrib import admin
from django.urls import include, path

from ws_routes import router

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ws/", include(router.urls)),
]
