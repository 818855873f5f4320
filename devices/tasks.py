"""Periodic work of the devices app (scheduled in settings: CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .faces import purge_tombstones
from .models import DeviceEvent, RefusedEvent
from .silence import check_silent_devices as check_silence

PURGE_CHUNK = 5000


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


@shared_task(name="devices.purge_refused_events")
def purge_refused_events(chunk: int = PURGE_CHUNK) -> int:
    """Refused events older than DEVICE_REFUSAL_RETENTION_DAYS. In chunks of ids, each its own DELETE (and,
    outside a transaction, its own commit), so that a backlog never holds one long lock on the table every
    refused ingest request writes to."""
    horizon = timezone.now() - timedelta(days=settings.DEVICE_REFUSAL_RETENTION_DAYS)
    old = RefusedEvent.objects.filter(received_at__lt=horizon).order_by().values_list("pk", flat=True)
    total = 0
    while ids := list(old[:chunk]):
        total += RefusedEvent.objects.filter(pk__in=ids).delete()[0]
    return total


@shared_task(name="devices.check_silent_devices")
def check_silent_devices() -> dict[str, int]:
    return check_silence()
