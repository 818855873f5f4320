from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = _("Residents")

    def ready(self) -> None:
        # uploads and security may not import each other: this app, above both, has the outbox's discards
        # written to the audit log (inside the discarding transaction).
        # Registers residents.E001 (apply-access open to all in production).
        # The audit log (security, below us) shows our export kinds by name.
        from security.models import EXPORT_KIND_LABELS
        from uploads.outbox import on_discard

        from . import checks  # noqa: F401

        # Celery autodiscovery finds residents.tasks only; the Excel import task lives in residents/excel/.
        from .excel import tasks  # noqa: F401
        from .excel.exports import export_kind_label

        EXPORT_KIND_LABELS.append(export_kind_label)
        on_discard(_audit_discard)


def _audit_discard(*, community: object, count: int, reason: str, acting_user: object) -> None:
    from security.models import AuditEvent
    from security.services import record_event

    record_event(AuditEvent.Kind.DISCARD, user=acting_user, community=community,
                 detail=f"{count} outbox records discarded: {reason}")
