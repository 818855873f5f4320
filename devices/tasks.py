"""Periodic work of the devices app (scheduled in settings: CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .faces import purge_tombstones
from .models import DeviceEvent


@shared_task(name="devices.purge_face_tombstones")
def purge_face_tombstones() -> int:
    return purge_tombstones()


@shared_task(name="devices.purge_device_events")
def purge_device_events() -> int:
    """Events older than DEVICE_EVENT_RETENTION_DAYS: what was sent is in the outbox's own history, and
    a plate or a person's passage is not kept past its purpose (PIPL)."""
    horizon = timezone.now() - timedelta(days=getattr(settings, "DEVICE_EVENT_RETENTION_DAYS", 90))
    deleted, _by_model = DeviceEvent.objects.filter(received_at__lt=horizon).delete()
    return deleted
