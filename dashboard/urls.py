from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import views

app_name = "dashboard"

# admin_view: staff only (others go to the admin's login page), and never cached.
wrap = admin.site.admin_view

urlpatterns = [
    path("", wrap(views.home), name="home"),
    path("apps/", wrap(views.apps), name="apps"),
    path("dashboard/data.json", wrap(views.overview_data), name="overview-data"),
    path("dashboard/<int:pk>/", wrap(views.community), name="community"),
    path("dashboard/<int:pk>/data.json", wrap(views.community_data), name="community-data"),
]
