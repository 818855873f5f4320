from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    # The dashboard is the admin's landing page (/admin/); the stock app list moves to /admin/apps/.
    path("admin/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    # POST /apply-access (the city), the guards' review pages, protected photos.
    path("", include("residents.urls")),
    path("api/v1/devices/", include("devices.urls")),
    # Face terminals push their events here (the secret in the path identifies the terminal).
    path("terminals/", include("terminals.urls")),
    # The OpenAPI schema (staff only) of the APIs above.
    path("", include("security.urls")),
]

# MEDIA_ROOT is never served, not even with DEBUG: it holds outbox images (face and vehicle captures of
# passers-by). Residents' photos are in PRIVATE_MEDIA_ROOT and go out only through a view that checks tenancy.
