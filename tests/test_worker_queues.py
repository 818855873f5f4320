"""Slow external work cannot starve the rest: photo fetches go to their own queue, every task has soft
and hard time limits, and every place that starts workers consumes the photo queue somewhere. Also
`make run`'s process runner, which restarts a worker that dies."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from afxq_portal.celery_app import app

ROOT = Path(__file__).resolve().parent.parent


def load_devstack():
    spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_it_routes_photo_fetches_to_their_own_queue_and_nothing_else() -> None:
    assert settings.CELERY_PHOTO_QUEUE == f"{settings.CELERY_TASK_DEFAULT_QUEUE}-photos"
    assert queue_of("residents.fetch_photo") == settings.CELERY_PHOTO_QUEUE
    for name in ("residents.apply_calls", "uploads.drain_outbox", "uploads.sweep_outbox", "residents.expire_residents"):
        assert queue_of(name) == settings.CELERY_TASK_DEFAULT_QUEUE


def test_it_gives_every_task_soft_and_hard_time_limits() -> None:
    app.loader.import_default_modules()
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    tasks = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert len(tasks) > 5
    for task in tasks:
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert 0 < soft < hard, task.name
    fetch = app.tasks["residents.fetch_photo"]
    # The fetch bounds itself first; the soft limit is the backstop, not the timeout.
    assert settings.PHOTO_FETCH_TOTAL_TIMEOUT < fetch.soft_time_limit < fetch.time_limit


def test_it_refuses_a_hard_limit_not_above_the_soft_one() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-c", "import afxq_portal.settings"], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "CELERY_TASK_SOFT_TIME_LIMIT": "60",
                                          "CELERY_TASK_TIME_LIMIT": "60"})
    assert done.returncode != 0
    assert "CELERY_TASK_TIME_LIMIT (60) must be greater than CELERY_TASK_SOFT_TIME_LIMIT (60)" in done.stderr


def test_it_starts_a_photo_worker_wherever_workers_are_started() -> None:
    devstack = dict(load_devstack().commands())
    assert devstack["worker"][devstack["worker"].index("-Q") + 1] == settings.CELERY_TASK_DEFAULT_QUEUE
    assert devstack["photo-worker"][devstack["photo-worker"].index("-Q") + 1] == settings.CELERY_PHOTO_QUEUE
    assert "-B" in devstack["worker"] and "-B" not in devstack["photo-worker"]
    unit = (ROOT / "deploy" / "systemd" / "afxq-photo-worker@.service").read_text()
    assert re.search(r"^ExecStart=.* worker .*-Q \$\{CELERY_PHOTO_QUEUE\}$", unit, re.M)
    assert "CELERY_PHOTO_QUEUE=afxq-photos" in unit
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert '"-Q", "afxq-photos"' in compose
    assert '"-Q", "afxq-prodcheck-photos"' in (ROOT / "scripts" / "prod_check.py").read_text()
    assert "-photos" in (ROOT / "drills" / "stack.py").read_text()


def test_it_restarts_a_worker_that_dies_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    devstack = load_devstack()
    procs = {
        "worker": [sys.executable, "-c", "raise SystemExit(3)"],
        "web": [sys.executable, "-c", "import time; time.sleep(3)"],
    }
    env = {"PATH": "/usr/bin:/bin"}
    children = {name: devstack.start(args, env) for name, args in procs.items()}
    first_worker = children["worker"]
    try:
        stopped = devstack.supervise(children, procs, env, poll_seconds=0.05, restart_delay=0.2)
    finally:
        for proc in children.values():
            proc.kill()
            proc.wait()
    # The worker came back (more than once), the web's exit ended the watch.
    assert stopped == "web"
    assert children["worker"] is not first_worker
    err = capsys.readouterr().err
    assert "devstack: worker exited unexpectedly with code 3; restarting it" in err
    assert err.count("restarting it") >= 2


@pytest.mark.django_db
@override_settings(PHOTO_FETCH_MAX_RETRIES=0)
def test_it_counts_a_photo_fetch_past_its_soft_time_limit_as_a_failed_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    from residents import photos, tasks
    from residents.models import Resident
    from tests.factories import ResidentFactory

    resident = ResidentFactory(photo_url="http://photos.example.com/p.jpg", photo_status=Resident.PhotoStatus.PENDING)

    def out_of_time(url: str) -> bytes:  # what celery raises in the task when the soft limit passes
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(photos, "fetch_photo", out_of_time)
    assert tasks.fetch_photo.apply(args=[resident.pk]).get() == "failed"
    resident.refresh_from_db()
    assert resident.photo_status == Resident.PhotoStatus.FAILED
    assert "gave up after 1 attempts: the fetch ran out of time (the task's soft time limit)" in resident.photo_error
