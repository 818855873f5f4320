"""Start the development stack in the foreground and stop all of it on Ctrl-C.

Processes: the Django development server, one Celery worker with the beat scheduler embedded (the
only beat), and the sandbox city platform when the uploads app provides it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SANDBOX_PORT = os.environ.get("SANDBOX_CITY_PORT", "8090")


def commands() -> list[tuple[str, list[str]]]:
    procs = [
        ("web", [PY, "manage.py", "runserver", "127.0.0.1:8000", "--noreload"]),
        ("worker", [PY, "-m", "celery", "-A", "afxq_portal", "worker", "-B", "-l", "INFO", "-c", "2",
                    "-s", str(ROOT / "var" / "celerybeat-schedule")]),
    ]
    if (ROOT / "uploads" / "management" / "commands" / "sandbox_city.py").exists():
        procs.append(("sandbox", [PY, "manage.py", "sandbox_city", "--port", SANDBOX_PORT]))
    return procs


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
    env = dict(os.environ)
    env.setdefault("CITY_PLATFORM_BASE_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    children = [(name, subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)) for name, args in commands()]
    print("\n afxq-portal is starting:")
    print("   admin:        http://127.0.0.1:8000/admin/")
    print("   guard review: http://127.0.0.1:8000/guard/ (for a phone)")
    print("   demo logins:  admin / admin-demo-2026 (platform administrator)")
    print("                 staff / staff-demo-2026 (property staff of the demo community)")
    print("                 13900000000 / guard-demo-2026 (guard of the demo community)")
    if any(name == "sandbox" for name, _ in children):
        print(f"   sandbox city: http://127.0.0.1:{SANDBOX_PORT}/")
    print(" Ctrl-C stops everything.\n", flush=True)
    try:
        while all(proc.poll() is None for _, proc in children):
            time.sleep(0.5)
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for _, proc in children:
            _signal_group(proc, signal.SIGTERM)
        for name, proc in children:
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
