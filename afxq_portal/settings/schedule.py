"""Periodic tasks (Celery beat), all in one place; each task is in its app's tasks module."""

from __future__ import annotations

from .devices import DEVICE_SILENT_CHECK_SECONDS
from .residents import APPLY_ACCESS_SWEEP_SECONDS
from .terminals import TERMINAL_SWEEP_SECONDS
from .uploads import LINK_CHECK_SECONDS, UPLOAD_SWEEP_SECONDS

_HOUR = 3600.0

CELERY_BEAT_SCHEDULE = {
    "residents-expire": {"task": "residents.expire_residents", "schedule": 300.0},
    "residents-apply-calls": {"task": "residents.apply_calls", "schedule": APPLY_ACCESS_SWEEP_SECONDS},
    "residents-requeue-import-jobs": {"task": "residents.requeue_import_jobs", "schedule": 60.0},
    "residents-purge-import-files": {"task": "residents.purge_import_files", "schedule": _HOUR},
    "devices-purge-face-tombstones": {"task": "devices.purge_face_tombstones", "schedule": _HOUR},
    "devices-purge-events": {"task": "devices.purge_device_events", "schedule": _HOUR},
    "devices-purge-refusals": {"task": "devices.purge_refused_events", "schedule": _HOUR},
    "devices-check-silent": {"task": "devices.check_silent_devices", "schedule": DEVICE_SILENT_CHECK_SECONDS},
    "security-purge-audit-events": {"task": "security.purge_audit_events", "schedule": _HOUR},
    "uploads-sweep": {"task": "uploads.sweep_outbox", "schedule": UPLOAD_SWEEP_SECONDS},
    "uploads-check-links": {"task": "uploads.check_links", "schedule": LINK_CHECK_SECONDS},
    "terminals-sweep": {"task": "terminals.sweep", "schedule": TERMINAL_SWEEP_SECONDS},
    "uploads-purge": {"task": "uploads.purge_outbox", "schedule": _HOUR},
}
