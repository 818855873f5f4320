from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = _("Monitoring points and devices")

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers
