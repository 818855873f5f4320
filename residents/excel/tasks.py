"""Celery task of the import job. It takes the job's id; the job row says what to do, and a guarded
update claims it, so a task delivered twice does the work once."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .importer import Cancelled, run_import
from .models import ImportJob
from .safety import WorkbookError
from .services import requeue_waiting_jobs

log = logging.getLogger(__name__)


def claim(job_id: int, queued: str, running: str) -> ImportJob | None:
    claimed = ImportJob.objects.filter(pk=job_id, status=queued, cancel_requested=False).update(
        status=running, updated_at=timezone.now())
    return ImportJob.objects.select_related("community", "confirmed_by").get(pk=job_id) if claimed else None


def _progress(job_id: int):
    def report(done: int, refused: int, total: int) -> bool:
        ImportJob.objects.filter(pk=job_id).update(rows_done=done, rows_refused=refused, rows_total=total,
                                                   updated_at=timezone.now())
        return not ImportJob.objects.filter(pk=job_id, cancel_requested=True).exists()
    return report


@shared_task(name="residents.run_import_job", soft_time_limit=settings.EXCEL_IMPORT_SOFT_TIME_LIMIT,
             time_limit=settings.EXCEL_IMPORT_SOFT_TIME_LIMIT + 60)
def run_import_job(job_id: int) -> str:
    """Run whichever pass the job is queued for: the check (dry run) or, once confirmed, the write."""
    job = claim(job_id, ImportJob.Status.CHECK_QUEUED, ImportJob.Status.CHECKING)
    commit = False
    if job is None:
        job = claim(job_id, ImportJob.Status.WRITE_QUEUED, ImportJob.Status.WRITING)
        commit = True
    if job is None:
        return "not claimed"
    with translation.override(job.language):
        return _run(job, commit=commit)


def _run(job: ImportJob, *, commit: bool) -> str:
    source = Path(job.file.path)
    result_path = source.with_name(f"{source.stem}-{'imported' if commit else 'checked'}-{job.pk}.xlsx")
    ImportJob.objects.filter(pk=job.pk).update(rows_done=0, rows_refused=0)
    try:
        summary = run_import(source, job.community, commit=commit, create_rooms=job.create_rooms,
                             acting_user=job.confirmed_by if commit else None, result_path=result_path,
                             progress=_progress(job.pk), name=job.original_name)
    except Cancelled as cancelled:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.CANCELLED, rows_written=F("rows_written") + cancelled.summary.written,
            error=_("Cancelled; %(n)d rows had been written in whole batches.") % {"n": cancelled.summary.written}
            if commit else "")
        return "cancelled"
    except WorkbookError as exc:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error=str(exc))
        return "failed"
    except Exception as exc:
        log.exception("import job %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED,
                                                   error=_("Internal error: %(error)s") % {"error": type(exc).__name__})
        return "failed"
    relative = str(result_path.relative_to(Path(job.file.storage.location)))
    fields = {"rows_total": summary.rows, "rows_done": summary.rows, "rows_refused": summary.refused,
              "rows_accepted": summary.accepted, "summary": summary.as_dict(), "result_file": relative}
    if commit:
        fields.update(status=ImportJob.Status.DONE, rows_written=summary.written, rooms_created=summary.rooms_created,
                      write_seconds=summary.seconds)
    else:
        fields.update(status=ImportJob.Status.CHECKED, check_seconds=summary.seconds)
    # Guarded: a cancel that arrived at the very end wins over "checked".
    ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.ACTIVE).update(**fields)
    return "done"



@shared_task(name="residents.requeue_import_jobs")
def requeue_import_jobs() -> int:
    return requeue_waiting_jobs()


@shared_task(name="residents.purge_import_files")
def purge_import_files() -> int:
    """Delete the files of import jobs older than EXCEL_IMPORT_RETENTION_DAYS (PIPL: kept no longer than
    needed to fix and re-upload); the job rows stay as the record of what was imported."""
    cutoff = timezone.now() - dt.timedelta(days=settings.EXCEL_IMPORT_RETENTION_DAYS)
    old = ImportJob.objects.filter(created_at__lt=cutoff).exclude(status__in=ImportJob.ACTIVE).exclude(file="")
    purged = 0
    for job in old.iterator():
        for stored in (job.file, job.result_file):
            if stored:
                stored.storage.delete(stored.name)
        purged += ImportJob.objects.filter(pk=job.pk).update(file="", result_file="")
        # A dry run nobody confirmed cannot be written any more.
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.CHECKED).update(
            status=ImportJob.Status.CANCELLED, error=_("The file was deleted after %(n)d days unconfirmed.")
            % {"n": settings.EXCEL_IMPORT_RETENTION_DAYS})
    if purged:
        log.info("deleted the files of %d import jobs older than %d days", purged,
                 settings.EXCEL_IMPORT_RETENTION_DAYS)
    return purged
