"""Celery tasks. They only nudge and sweep: the outbox rows are the truth, so a lost message costs
latency, never a record. Tasks take IDs, never model objects."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import alerts, outbox
from .models import OutboxRecord, UploadBatch
from .services import delete_images, nudge_drain


@shared_task(name="uploads.drain_outbox")
def drain_outbox(community_id: int, endpoint: str) -> str:
    outcome, batches = outbox.drain(community_id, endpoint)
    if outcome in (outbox.Outcome.SENT, outbox.Outcome.SPLIT):
        # The time budget ran out with rows left: queue the rest behind other communities' work.
        nudge_drain(community_id, endpoint)
    return f"{outcome.value} after {batches} batch(es)"


@shared_task(name="uploads.sweep_outbox")
def sweep_outbox() -> int:
    """Nudge every (community, endpoint) with due rows: pending past their backoff, or in flight past
    their lease (a worker died). This is what makes a lost or flushed broker message harmless."""
    pairs = outbox.due_pairs()
    for community_id, endpoint in pairs:
        nudge_drain(community_id, endpoint)
    return len(pairs)


@shared_task(name="uploads.check_links")
def check_links() -> dict[str, str]:
    return alerts.check_links()


@shared_task(name="uploads.purge_outbox")
def purge_outbox() -> int:
    """Retention: the images of sent rows after UPLOAD_SENT_IMAGE_RETENTION_DAYS (faces of passers-by are kept
    no longer than their purpose needs), sent rows after UPLOAD_RETENTION_DAYS, dead letters after
    UPLOAD_DEAD_RETENTION_DAYS (discarded rows as long after their discarding), batches once no row refers to
    them and they are as old. Retention is the only deleter of these rows: the admin deletes none."""
    now = timezone.now()
    drop_sent_images(now - timedelta(days=settings.UPLOAD_SENT_IMAGE_RETENTION_DAYS))
    purged = purge_rows(OutboxRecord.objects.filter(
        status=OutboxRecord.Status.SENT, sent_at__lt=now - timedelta(days=settings.UPLOAD_RETENTION_DAYS)))
    purged += purge_rows(OutboxRecord.objects.filter(
        status=OutboxRecord.Status.DEAD, created_at__lt=now - timedelta(days=settings.UPLOAD_DEAD_RETENTION_DAYS)))
    purged += purge_rows(OutboxRecord.objects.filter(
        status=OutboxRecord.Status.DISCARDED,
        discarded_at__lt=now - timedelta(days=settings.UPLOAD_DEAD_RETENTION_DAYS)))
    UploadBatch.objects.filter(started_at__lt=now - timedelta(days=settings.UPLOAD_RETENTION_DAYS),
                               records__isnull=True).delete()
    return purged


def purge_rows(queryset, chunk: int = 1000) -> int:
    total = 0
    while True:
        rows = list(queryset.values_list("id", "images")[:chunk])
        if not rows:
            return total
        delete_images(path for _id, images in rows for path in (images or {}).values())
        OutboxRecord.objects.filter(id__in=[r[0] for r in rows]).delete()
        total += len(rows)


def drop_sent_images(before, chunk: int = 1000) -> int:
    """Delete the image files of rows sent before ``before``; the rows stay (for monitoring) until their
    own retention, with no images."""
    total = 0
    while True:
        rows = list(OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT, sent_at__lt=before)
                    .exclude(images={}).values_list("id", "images")[:chunk])
        if not rows:
            return total
        delete_images(path for _id, images in rows for path in (images or {}).values())
        OutboxRecord.objects.filter(id__in=[r[0] for r in rows]).update(images={})
        total += len(rows)
