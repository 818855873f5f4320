"""Residents' Celery tasks. They take ids, never model objects; the database says what is due."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from . import photos, services
from .models import Resident

logger = logging.getLogger(__name__)


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter: base, 2x base, 4x base... (a busy file server is not hammered)."""
    base = settings.PHOTO_FETCH_RETRY_BASE_SECONDS
    return base * (2 ** retries) * random.uniform(0.8, 1.2)


def _fetch(url: str) -> bytes:
    try:
        return photos.fetch_photo(url)
    except SoftTimeLimitExceeded as exc:  # retried like any other temporary failure
        raise photos.PhotoTemporaryError("the fetch ran out of time (the task's soft time limit)") from exc


# The download bounds itself (PHOTO_FETCH_TOTAL_TIMEOUT); the limits catch what it cannot (a stuck
# DNS lookup, a re-encode gone wrong). Routed to CELERY_PHOTO_QUEUE (settings.CELERY_TASK_ROUTES).
@shared_task(bind=True, name="residents.fetch_photo", max_retries=None, ignore_result=True,
             soft_time_limit=settings.PHOTO_FETCH_TOTAL_TIMEOUT + 30, time_limit=settings.PHOTO_FETCH_TOTAL_TIMEOUT + 60)
def fetch_photo(self, resident_id: int) -> str:
    resident = Resident.objects.filter(pk=resident_id).only("photo_url", "photo_status").first()
    if resident is None or resident.photo_status != Resident.PhotoStatus.PENDING:
        return "nothing to do"
    url = resident.photo_url
    try:
        jpeg = _fetch(url)
    except photos.PhotoRefused as exc:
        logger.warning("photo of resident %s refused: %s", resident_id, exc)
        services.mark_photo_failed(resident_id, url, str(exc))
        return "refused"
    except photos.PhotoTemporaryError as exc:
        if self.request.retries >= settings.PHOTO_FETCH_MAX_RETRIES:
            logger.warning("photo of resident %s never arrived: %s", resident_id, exc)
            services.mark_photo_failed(resident_id, url, f"gave up after {self.request.retries + 1} attempts: {exc}")
            return "failed"
        raise self.retry(countdown=retry_delay(self.request.retries), exc=exc) from exc
    services.store_photo(resident_id, url, jpeg)
    logger.info("photo of resident %s stored (%d bytes)", resident_id, len(jpeg))
    return "stored"


@shared_task(name="residents.apply_calls", ignore_result=True)
def apply_calls() -> int:
    """Apply the accepted apply-access calls (queued by the view's nudge, and by beat as a sweep)."""
    stalled = services.stalled_accepted_calls()
    if stalled is not None:  # the workers were down, or far behind: an ERROR for whoever watches the logs
        logger.error("apply-access: %d accepted call(s) waited %d s or more to be applied", stalled[0], stalled[1])
    return services.apply_accepted_calls(linger_seconds=settings.APPLY_ACCESS_NUDGE_INTERVAL_SECONDS)


@shared_task(name="residents.expire_residents", ignore_result=True)
def expire_residents() -> dict[str, int]:
    """Beat, every few minutes: expire people whose validity ended, delete old stored calls and the
    photos of people rejected or expired long ago, and re-queue photo fetches whose task was lost
    (the row says pending, nobody is working on it)."""
    expired = services.expire_residents()
    purged = services.purge_apply_access_calls()
    photos_deleted = services.purge_stale_photos()
    stuck = services.stuck_photo_fetches()
    for resident_id in stuck:
        services.nudge_photo_fetch(resident_id)
    if expired or purged or photos_deleted or stuck:
        logger.info("residents sweep: %d expired, %d old calls deleted, %d stale photos deleted, "
                    "%d photo fetches re-queued", expired, purged, photos_deleted, len(stuck))
    return {"expired": expired, "purged": purged, "photos_deleted": photos_deleted, "requeued": len(stuck)}
