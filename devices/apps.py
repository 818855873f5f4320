from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = _("Monitoring points and devices")

    def ready(self) -> None:
        from . import checks, exports, signals  # noqa: F401 - registers the checks, connects the receivers

        exports.register()
