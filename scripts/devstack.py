"""Start the development stack in the foreground and stop all of it on Ctrl-C.

Processes: the Django development server, one Celery worker with the beat scheduler embedded (the
only beat), one worker for the photo queue (photo fetches wait on hosts the city names: they must never
take the worker that applies calls), and the sandbox city platform (``sandbox/``) when the checkout has it.
A worker that exits unexpectedly is started again (and the terminal says so); any other process
exiting stops the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SANDBOX_PORT = os.environ.get("SANDBOX_CITY_PORT", "8090")
# The simulated face terminal at the demo's face panel (sandbox/terminal.py), registered with add_terminal.
TERMINAL_PORT = os.environ.get("SANDBOX_TERMINAL_PORT", "8091")
TERMINAL_URL = f"http://127.0.0.1:{TERMINAL_PORT}"
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
WEB_URL = "http://127.0.0.1:8000"
# People the sandbox pushes once to a demo community that has nobody yet: the guard page then shows faces.
DEMO_PUSHES = 3


# Without these nothing is applied or sent, and nobody watches a laptop's terminal: restart them.
RESTARTED = frozenset({"worker", "photo-worker"})
RESTART_DELAY_SECONDS = 2.0


def queues() -> tuple[str, str]:
    """The default queue and the photo queue, as the settings name them (CELERY_QUEUE, CELERY_PHOTO_QUEUE)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    return settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_PHOTO_QUEUE


def _django() -> None:
    queues()  # settings on the path
    import django

    django.setup()


def site_credentials() -> list[str]:
    """Every configured community's 场所侧 credentials as the sandbox takes them (cid:secret:user:password),
    so that the sandbox city accepts each community `make run` has (restart it after adding one)."""
    _django()
    from communities.models import SiteCredential

    return [f"{c.client_id}:{c.client_secret}:{c.username}:{c.password}" for c in SiteCredential.objects.all()]


def sandbox_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of every process: the portal talks to the sandbox, and the photo worker may fetch
    from it (loopback is refused by default: PHOTO_FETCH_ALLOWED_NETWORKS, this one port only)."""
    env = dict(env)
    env.setdefault("CITY_PLATFORM_BASE_URL", SANDBOX_URL)
    env.setdefault("PHOTO_FETCH_ALLOWED_NETWORKS", f"127.0.0.1/32:{SANDBOX_PORT}")
    env.setdefault("SANDBOX_PORTAL_URL", f"{WEB_URL}/apply-access")
    known = [c for c in env.get("SANDBOX_CITY_CREDENTIALS", "").split(",") if c.strip()]
    env["SANDBOX_CITY_CREDENTIALS"] = ",".join(dict.fromkeys([*known, *site_credentials()]))
    return env


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def push_demo_people(timeout: float = 120.0) -> None:
    """Once the web server and the sandbox answer: if the demo community has nobody, the sandbox plays the
    city and pushes a few people (apply-access, photos on the sandbox), as a QR registration would."""
    from communities.management.commands.seed_demo import DEMO_CITY_ID
    from residents.models import Resident
    from sandbox.city import SandboxClient

    deadline = time.monotonic() + timeout
    while not (_up(f"{WEB_URL}/guard/login/") and _up(f"{SANDBOX_URL}/_sandbox/stats")):
        if time.monotonic() > deadline:
            return
        time.sleep(1)
    if Resident.objects.filter(community__city_id=DEMO_CITY_ID).exists():
        return
    client = SandboxClient(SANDBOX_URL)
    for _ in range(DEMO_PUSHES):
        push = client.push_person(community=DEMO_CITY_ID)
        print(f"devstack: the sandbox pushed {push['name']} to apply-access: HTTP {push['status']}", flush=True)


def commands() -> list[tuple[str, list[str]]]:
    default_queue, photo_queue = queues()
    celery = [PY, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO"]
    procs = [
        ("web", [PY, "manage.py", "runserver", "127.0.0.1:8000", "--noreload"]),
        ("worker", [*celery, "-B", "-c", "2", "-n", "worker@%h", "-Q", default_queue,
                    "-s", str(ROOT / "var" / "celerybeat-schedule")]),
        ("photo-worker", [*celery, "-c", "1", "-n", "photos@%h", "-Q", photo_queue]),
    ]
    if (ROOT / "sandbox" / "city.py").exists():
        procs.append(("sandbox", [PY, "-m", "sandbox.city", "--port", SANDBOX_PORT]))
    if (ROOT / "sandbox" / "terminal.py").exists():
        procs.append(("terminal", [PY, "-m", "sandbox.terminal", "--port", TERMINAL_PORT]))
    return procs


def register_demo_terminal(env: dict[str, str]) -> None:
    """The simulated terminal at the demo's face panel (idempotent): within a minute the portal tells it where to
    push, and sends it the demo's residents with photos."""
    done = subprocess.run([PY, "manage.py", "add_terminal", "--community", "DEMO-0001", "--point", "DEMO-PP-001",
                           "--vendor", "hikvision", "--url", TERMINAL_URL, "--username", "admin",
                           "--password", "sandbox-terminal-1"], cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"devstack: demo terminal: {(done.stdout or done.stderr).strip().splitlines()[0:1]}", flush=True)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)


def supervise(children: dict[str, subprocess.Popen], procs: dict[str, list[str]], env: dict[str, str],
              poll_seconds: float = 0.5, restart_delay: float = RESTART_DELAY_SECONDS,
              sleep: Callable[[float], None] = time.sleep) -> str:
    """Watch ``children`` (updated in place): restart those in RESTARTED that exit, after
    ``restart_delay`` (a worker that dies at once is not restarted in a tight loop). Returns the name of
    the first other child that exited."""
    while True:
        for name, proc in list(children.items()):
            if proc.poll() is None:
                continue
            if name not in RESTARTED:
                return name
            print(f"devstack: {name} exited unexpectedly with code {proc.returncode}; restarting it in "
                  f"{restart_delay:g} s", file=sys.stderr, flush=True)
            _signal_group(proc, signal.SIGKILL)  # pool children the dead worker left behind
            sleep(restart_delay)
            children[name] = start(procs[name], env)
        sleep(poll_seconds)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: object) -> None:
    # Stop once: `timeout` signals both make and us, and a second interrupt during the cleanup
    # below would skip the SIGKILL of a worker stuck in its warm shutdown.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    # `timeout make run`, a closed terminal or a service manager send SIGTERM/SIGHUP, not Ctrl-C: stop the
    # children the same way, or they (in their own sessions) would keep ports 8000 and 8090 busy.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _stop)
    (ROOT / "var").mkdir(exist_ok=True)
    env = sandbox_env(dict(os.environ))
    procs = dict(commands())
    children = {name: start(args, env) for name, args in procs.items()}
    print("\n afxq-portal is starting:")
    print("   admin:        http://127.0.0.1:8000/admin/")
    print("   guard review: http://127.0.0.1:8000/guard/ (for a phone)")
    print("   demo logins:  admin / admin-demo-2026 (platform administrator)")
    print("                 staff / staff-demo-2026 (property staff of the demo community)")
    print("                 13900000000 / guard-demo-2026 (guard of the demo community)")
    if "sandbox" in children:
        print(f"   sandbox city: {SANDBOX_URL}/ (push a person, faults on and off, what arrived)")
        threading.Thread(target=push_demo_people, daemon=True).start()
    if "terminal" in children:
        print(f"   face terminal: {TERMINAL_URL}/ (the simulated terminal at the demo's face panel: people, passes)")
        register_demo_terminal(env)
    print(" Ctrl-C stops everything.\n", flush=True)
    try:
        name = supervise(children, procs, env)
        print(f"{name} exited with {children[name].returncode}; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in children.values():
            _signal_group(proc, signal.SIGTERM)
        for name, proc in children.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 15 s; killing it", file=sys.stderr)
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
    return 0


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # already gone, with its whole group
        pass


if __name__ == "__main__":
    sys.exit(main())
