from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = _("Residents")

    def ready(self) -> None:
        # Registers residents.E001 (apply-access open to all in production).
        from . import checks  # noqa: F401

        # Celery autodiscovery finds residents.tasks only; the Excel import task lives in residents/excel/.
        from .excel import tasks  # noqa: F401
