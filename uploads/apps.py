from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = _("Uploads to the city platform")

    def ready(self) -> None:
        from communities import link_health

        from .monitoring import link_badges

        link_health.register(link_badges)
