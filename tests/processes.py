"""Real processes for integration tests: Celery workers (and, from uploads, the sandbox city).

Children get the parent's run id, so they use the same broker folder, queue, media folder and cache
prefix, and a DATABASE_URL that points at the test database the parent created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AFXQ_TEST_CHILD": "1",
        "AFXQ_RUN_ID": settings.RUN_ID,
        "DATABASE_URL": test_database_url(),
        "DJANGO_SETTINGS_MODULE": "afxq_portal.settings",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class ManagedProcess:
    """A child process with its output in a log file; stopped (and its group killed) on close."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.output():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not print {marker!r} within {timeout}s:\n{self.output()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a Celery worker and its pool children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self._log.close()  # the child is gone: nothing writes to its log any more

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def start_worker(log_dir: Path, name: str = "worker", concurrency: int = 2, beat: bool = False,
                 queues: list[str] | None = None, **env: str) -> ManagedProcess:
    """``queues``: what the worker consumes; by default the default queue and the photo queue, so that
    one worker runs every task of a test."""
    queues = queues or [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_PHOTO_QUEUE]
    args = [sys.executable, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO",
            "-c", str(concurrency), "-n", f"{name}@%h", "-Q", ",".join(queues)]
    if beat:
        args += ["-B", "-s", str(log_dir / f"{name}-beat-schedule")]
    worker = ManagedProcess(name, args, log_dir, child_env(**env))
    worker.wait_for_output("ready.", timeout=90)
    return worker
