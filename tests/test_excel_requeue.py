"""An import job whose task message was lost (the broker down when it was queued, or restarted) is asked for
again by the beat sweep; a job whose task is only late runs once all the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from residents.excel.models import ImportJob
from residents.excel.services import requeue_waiting_jobs
from residents.excel.tasks import run_import_job


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list]]:
    from afxq_portal.celery_app import app

    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **kwargs: sent.append((name, args)))
    return sent


def job(community, status: str, minutes_ago: float, **extra) -> ImportJob:
    made = ImportJob.objects.create(community=community, original_name="住户.xlsx", file="imports/x.xlsx",
                                    status=status, **extra)
    ImportJob.objects.filter(pk=made.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes_ago))
    return made


def test_it_asks_again_for_jobs_queued_too_long_once_per_period(community_a, settings, sent_tasks) -> None:
    settings.EXCEL_IMPORT_REQUEUE_SECONDS = 120
    lost_check = job(community_a, ImportJob.Status.CHECK_QUEUED, 10)
    lost_write = job(community_a, ImportJob.Status.WRITE_QUEUED, 3)
    job(community_a, ImportJob.Status.CHECK_QUEUED, 0.5)  # just queued: its task is on its way
    job(community_a, ImportJob.Status.WRITE_QUEUED, 10, cancel_requested=True)
    job(community_a, ImportJob.Status.CHECKING, 10)  # running (a stale run is for staff to cancel)
    job(community_a, ImportJob.Status.CHECKED, 10)  # waiting for a person, not a worker

    assert requeue_waiting_jobs() == 2
    assert sorted(sent_tasks) == sorted([("residents.run_import_job", [lost_check.pk]),
                                         ("residents.run_import_job", [lost_write.pk])])
    assert requeue_waiting_jobs() == 0  # asked a moment ago
    # A period later: the two again, and the one that was fresh is waiting too long now.
    assert requeue_waiting_jobs(now=timezone.now() + timedelta(minutes=3)) == 3


def test_it_runs_a_job_once_when_its_late_task_and_the_sweeps_both_arrive(community_a, settings) -> None:
    lost = job(community_a, ImportJob.Status.CHECK_QUEUED, 10)
    ImportJob.objects.filter(pk=lost.pk).update(cancel_requested=True)  # claimed by neither: nothing runs
    assert run_import_job(lost.pk) == "not claimed"
    queued = job(community_a, ImportJob.Status.CHECKING, 0)  # the first task claimed it
    assert run_import_job(queued.pk) == "not claimed"
