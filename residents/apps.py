from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = _("Residents")

    def ready(self) -> None:
        # Celery autodiscovery finds residents.tasks only; the Excel import task lives in residents/excel/.
        from .excel import tasks  # noqa: F401
