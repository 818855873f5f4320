"""Periodic work of the security app (scheduled in settings: CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="security.purge_audit_events")
def purge_audit_events() -> int:
    """Retention of the audit log: events older than AUDIT_RETENTION_DAYS are deleted."""
    return services.purge_audit_events()
