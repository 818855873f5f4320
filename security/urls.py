from django.urls import path
from drf_spectacular.views import SpectacularAPIView

app_name = "security"

urlpatterns = [
    # Staff only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]): the schema names every field the city sends.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
