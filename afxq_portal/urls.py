from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # POST /apply-access (the city), the guards' review pages, protected photos.
    path("", include("residents.urls")),
    path("api/v1/devices/", include("devices.urls")),
    # The OpenAPI schema (staff only) of the APIs above.
    path("", include("security.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
