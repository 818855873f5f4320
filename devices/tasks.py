"""Periodic work of the devices app (scheduled in settings: CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from .faces import purge_tombstones


@shared_task(name="devices.purge_face_tombstones")
def purge_face_tombstones() -> int:
    return purge_tombstones()
