"""The real stack for drills and load benchmarks, on private services so that nothing else on the
machine is touched: a private PostgreSQL cluster (port 5441) and a private Redis (port 6391), both
restartable by a drill, the sandbox city platform as a process, Celery workers and one beat as
processes, and a media folder on a small tmpfs mount (so that a drill can fill it).

Use it from a script, before anything imports Django models:

    stack = Stack.start("drills")     # starts PostgreSQL, Redis, the sandbox; sets up Django here
    ...
    stack.close()                     # stops everything it started
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

PG_BIN = Path(os.environ.get("AFXQ_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PORT = int(os.environ.get("AFXQ_DRILL_PG_PORT", "5441"))
REDIS_PORT = int(os.environ.get("AFXQ_DRILL_REDIS_PORT", "6391"))
CREDENTIALS = "client:client-secret:site-user:site-password"  # what tests.factories.SiteCredentialFactory sets

# Short timers so that a drill sees leases end, retries and sweeps within seconds (production: 300 s lease,
# 10 s to 30 min backoff, 15 s sweep). Attempts are not limited: a drill's storms must not dead-letter rows.
FAST_TIMERS = {
    "UPLOAD_LEASE_SECONDS": "8", "UPLOAD_RETRY_BASE_SECONDS": "0.5", "UPLOAD_RETRY_MAX_SECONDS": "3",
    "UPLOAD_SWEEP_SECONDS": "2", "UPLOAD_CONNECT_TIMEOUT": "2", "UPLOAD_READ_TIMEOUT": "3",
    "UPLOAD_DRAIN_BUDGET_SECONDS": "10", "UPLOAD_MAX_ATTEMPTS": "100000", "UPLOAD_LOGIN_LOCK_SECONDS": "5",
}


def run(args: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    def __init__(self, folder: Path, port: int = PG_PORT) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "pgdata"
        self.url = f"postgres://postgres@127.0.0.1:{port}/afxq"

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        run(as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                         "--no-sync", "-E", "UTF8"]))
        self.start()
        run(as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "afxq"]))

    def start(self) -> None:
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"), "-w",
                         "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off "
                               f"-c max_connections=200", "start"]))

    def stop(self, mode: str = "fast") -> None:
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]), check=False)

    def restart(self) -> None:
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-l",
                         str(self.folder / "pg.log"), "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 "
                         f"-c fsync=off -c max_connections=200", "restart"]))


class PrivateRedis:
    def __init__(self, folder: Path, port: int = REDIS_PORT) -> None:
        self.folder, self.port = folder, port

    def start(self) -> None:
        run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"),
             "--pidfile", str(self.folder / "redis.pid")])
        for _ in range(50):
            if run(["redis-cli", "-p", str(self.port), "ping"], check=False).stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def flush(self) -> None:
        run(["redis-cli", "-p", str(self.port), "flushall"])

    def stop(self) -> None:
        run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], check=False)
        for _ in range(50):
            if run(["redis-cli", "-p", str(self.port), "ping"], check=False).returncode != 0:
                return
            time.sleep(0.1)


class Stack:
    """Everything a drill needs, all private to one run folder."""

    def __init__(self, name: str, media_mb: int = 256, pg_port: int = PG_PORT, redis_port: int = REDIS_PORT) -> None:
        self.work = Path(tempfile.mkdtemp(prefix=f"afxq-{name}-"))
        os.chmod(self.work, 0o755)
        self.pg = PrivatePostgres(self.work / "pg", pg_port)
        self.redis = PrivateRedis(self.work, redis_port)
        self.media = self.work / "media"
        self.media.mkdir()
        self.mounted = False
        self.media_mb = media_mb
        self.processes: list = []
        self.sandbox = None
        # A queue of this run only: a stray worker of an earlier, interrupted run can never take its tasks.
        self.queue = f"afxq-{name}-{os.getpid()}"

    @classmethod
    def start(cls, name: str, media_mb: int = 256, pg_port: int = PG_PORT, redis_port: int = REDIS_PORT,
              **settings_env: str) -> Stack:
        """Ports: each script that may run beside another (a drill and a benchmark) takes its own."""
        stack = cls(name, media_mb, pg_port, redis_port)
        try:
            stack._start(settings_env)
        except BaseException:
            stack.close()
            raise
        return stack

    def _start(self, settings_env: dict[str, str]) -> None:
        # SIGTERM (timeout, kill) ends the script through its finally blocks, so close() stops the services.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        # A tmpfs for MEDIA_ROOT: a drill can fill it for real (ENOSPC from the kernel).
        self.mounted = run(["mount", "-t", "tmpfs", "-o", f"size={self.media_mb}m", "tmpfs", str(self.media)],
                           check=False).returncode == 0
        self.pg.init()
        self.redis.start()
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "afxq_portal.settings", "DATABASE_URL": self.pg.url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/1", "CELERY_QUEUE": self.queue,
            "MEDIA_ROOT": str(self.media), "PRIVATE_MEDIA_ROOT": str(self.work / "private"),
            "CELERY_BEAT_SCHEDULE": str(self.work / "beat-schedule"), "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1", "DJANGO_DEBUG": "0", **FAST_TIMERS, **settings_env})
        os.environ.pop("AFXQ_TEST_CHILD", None)
        from tests.processes import ManagedProcess

        self.ManagedProcess = ManagedProcess
        sandbox = ManagedProcess("sandbox-city", [sys.executable, "-m", "sandbox.city", "--port", "0",
                                                  "--credentials", CREDENTIALS], self.work, dict(os.environ))
        self.processes.append(sandbox)
        sandbox.wait_for_output("sandbox city listening on", timeout=60)
        url = re.search(r"listening on (http://\S+?)/?$", sandbox.output(), re.M).group(1)
        os.environ["CITY_PLATFORM_BASE_URL"] = url
        from django.conf import settings

        settings.CITY_PLATFORM_BASE_URL = url  # tests.processes loaded the settings before the URL was known
        import django

        django.setup()
        from django.core.management import call_command

        from sandbox.city import SandboxClient

        self.sandbox = SandboxClient(url)
        call_command("migrate", verbosity=0)

    # --- processes --------------------------------------------------------------------------------

    def worker(self, name: str = "w1", concurrency: int = 2, nice: int = 0, queues: str = "",
               **env: str):
        """``nice``: the CPU priority deploy/systemd/afxq-worker@.service gives workers (Nice=10). ``queues``:
        "default" or "photos" for a worker of one queue, as deployed; both when empty."""
        args = [*(["nice", "-n", str(nice)] if nice else []), sys.executable, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO", "-c", str(concurrency),
                # The photo queue's name follows CELERY_QUEUE (settings.CELERY_PHOTO_QUEUE).
                "-n", f"{name}@%h", "-Q", {"default": self.queue, "photos": f"{self.queue}-photos"}.get(
                    queues, f"{self.queue},{self.queue}-photos"), "--without-gossip", "--without-mingle"]
        process = self.ManagedProcess(f"worker-{name}-{len(self.processes)}", args, self.work,
                                      {**os.environ, **env})
        self.processes.append(process)
        process.wait_for_output("ready.", timeout=90)
        return process

    def beat(self):
        args = [sys.executable, "-m", "celery", "-A", "afxq_portal", "beat", "-l", "INFO",
                "-s", str(self.work / "beat-schedule")]
        process = self.ManagedProcess(f"beat-{len(self.processes)}", args, self.work, dict(os.environ))
        self.processes.append(process)
        process.wait_for_output("beat: Starting", timeout=60)
        return process

    def gunicorn(self, workers: int = 2, settings_module: str = "afxq_portal.settings", **env: str):
        """The web app under gunicorn on a free port; the process gets ``.url``."""
        args = [sys.executable, "-m", "gunicorn", "afxq_portal.wsgi", "--bind", "127.0.0.1:0", "--workers",
                str(workers), "--access-logfile", "-" if env.pop("ACCESS_LOG", "") else "/dev/null"]
        process = self.ManagedProcess(f"gunicorn-{len(self.processes)}", args, self.work,
                                      {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, **env})
        self.processes.append(process)
        process.wait_for_output("Booting worker", timeout=60)
        process.url = re.search(r"Listening at: (http://\S+)", process.output()).group(1)
        return process

    def stop_from(self, index: int) -> None:
        """Stop the processes started since ``len(self.processes)`` was ``index`` (a drill's own)."""
        for process in reversed(self.processes[index:]):
            process.stop()

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.name}: {exc}", file=sys.stderr)
        self.redis.stop()
        self.pg.stop(mode="immediate")
        if self.mounted:
            run(["umount", str(self.media)], check=False)
        # Keep the logs, not the data (a cluster is 40 MB, a backlog bench's 400 MB).
        shutil.rmtree(self.pg.data, ignore_errors=True)
        if not self.mounted:
            shutil.rmtree(self.media, ignore_errors=True)
        print(f"stack stopped; logs in {self.work}", file=sys.stderr)
