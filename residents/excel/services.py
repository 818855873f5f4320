"""Import job operations: upload, confirm, cancel. Each runs in a transaction and nudges the worker on
commit; the job row is what the worker trusts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from afxq_portal.celery_app import start_task
from communities.models import Community

from .models import ImportJob
from .safety import check_file_name

RUN_IMPORT_TASK = "residents.run_import_job"
# A running job reports progress every few seconds; one silent this long has lost its worker.
STALE_AFTER_SECONDS = 600


def _nudge(job_id: int) -> None:
    transaction.on_commit(lambda: start_task(RUN_IMPORT_TASK, job_id, what=f"import job {job_id}"))


def requeue_waiting_jobs(now: dt.datetime | None = None) -> int:
    """Ask again for the task of every job queued longer than EXCEL_IMPORT_REQUEUE_SECONDS: its message may have
    been lost (the broker down when it was queued, a broker restart). A second task for a job whose first is only
    late does nothing (the task claims the job with a guarded update). Each job at most once per period: the
    request is noted on the row."""
    now = now or timezone.now()
    waiting = ImportJob.objects.filter(status__in=(ImportJob.Status.CHECK_QUEUED, ImportJob.Status.WRITE_QUEUED),
                                       cancel_requested=False,
                                       updated_at__lt=now - dt.timedelta(seconds=settings.EXCEL_IMPORT_REQUEUE_SECONDS))
    asked = 0
    for job_id, status in waiting.values_list("pk", "status"):
        if ImportJob.objects.filter(pk=job_id, status=status, cancel_requested=False).update(updated_at=now):
            start_task(RUN_IMPORT_TASK, job_id, what=f"import job {job_id}")
            asked += 1
    return asked


@transaction.atomic
def start_import(community: Community, uploaded: UploadedFile, *, create_rooms: bool,
                 acting_user: AbstractBaseUser, language: str = "zh-hans") -> ImportJob:
    """Store the upload under MEDIA_ROOT and queue its check pass (the dry run)."""
    check_file_name(uploaded.name)
    job = ImportJob(community=community, created_by=acting_user, original_name=uploaded.name[:200],
                    create_rooms=create_rooms, language=language)
    job.file.save(uploaded.name, uploaded, save=False)
    job.save()
    _nudge(job.pk)
    return job


@transaction.atomic
def confirm_import(job: ImportJob, *, acting_user: AbstractBaseUser) -> bool:
    """Queue the write pass of a checked job. False when the job is not waiting for confirmation."""
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.CHECKED, cancel_requested=False).update(
        status=ImportJob.Status.WRITE_QUEUED, confirmed_by=acting_user, updated_at=timezone.now())
    if updated:
        _nudge(job.pk)
    return bool(updated)


@transaction.atomic
def cancel_import(job: ImportJob, *, acting_user: AbstractBaseUser) -> bool:
    """Stop a job: a queued or checked job is cancelled at once, a running one at its next progress report."""
    now = timezone.now()
    stopped = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportJob.Status.CHECK_QUEUED, ImportJob.Status.CHECKED, ImportJob.Status.WRITE_QUEUED],
    ).update(status=ImportJob.Status.CANCELLED, cancel_requested=True, updated_at=now)
    if stopped:
        return True
    # A running job whose worker died reports no progress any more: nobody would see the request.
    stale = ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.ACTIVE,
                                     updated_at__lt=now - dt.timedelta(seconds=STALE_AFTER_SECONDS))
    if stale.update(status=ImportJob.Status.CANCELLED, cancel_requested=True, updated_at=now):
        return True
    return bool(ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.ACTIVE).update(
        cancel_requested=True, updated_at=now))
