from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = _("Residents")

    def ready(self) -> None:
        # Registers residents.E001 (apply-access open to all in production).
        # The audit log (security, below us) shows our export kinds by name.
        from security.models import EXPORT_KIND_LABELS

        from . import checks  # noqa: F401

        # Celery autodiscovery finds residents.tasks only; the Excel import task lives in residents/excel/.
        from .excel import tasks  # noqa: F401
        from .excel.exports import export_kind_label

        EXPORT_KIND_LABELS.append(export_kind_label)
