"""The terminal simulator (sandbox/terminal.py) as a real process on a free loopback port, for any test that needs
a Hikvision terminal: the driver's tests, the reconciler's, the event receiver's.

- ``sandbox_terminal``: one simulator (capacity 500); yields a ``SimTerminal``: the control API
  (``.people()``, ``.events()``, ``.faults(...)``, ``.pass_(employee_no)``, ``.reset()`` ...) plus ``.url``,
  ``.username``, ``.password``, ``.process`` and ``.driver()`` (a HikvisionDriver on it; close it, or use ``with``).
- ``start_sandbox_terminal``: a factory, ``start_sandbox_terminal(capacity=5, face_capacity=3, event_capacity=100,
  heartbeat=1)`` (the simulator's options), for tests that want others or several terminals; each is stopped at
  the end of the test.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.terminal import SandboxTerminalClient
from tests.processes import ManagedProcess

USERNAME, PASSWORD = "admin", "sandbox-terminal-1"


class SimTerminal(SandboxTerminalClient):
    def __init__(self, url: str, process: ManagedProcess) -> None:
        super().__init__(url)
        self.process, self.username, self.password = process, USERNAME, PASSWORD

    def driver(self, password: str | None = None, timeout: float = 10.0):
        from terminals.vendors.hikvision import HikvisionDriver

        return HikvisionDriver(self.url, self.username, password or self.password, timeout=timeout)


def start_terminal(log_dir: Path, name: str = "sandbox-terminal", **options: object) -> SimTerminal:
    """``options``: the simulator's own (capacity=500, face_capacity, event_capacity, heartbeat seconds)."""
    args = [sys.executable, "-m", "sandbox.terminal", "--port", "0", "--username", USERNAME, "--password", PASSWORD]
    for option, value in options.items():
        args += [f"--{option.replace('_', '-')}", str(value)]
    # The simulator needs no Django and no database: the parent's environment, unbuffered so its line shows at once.
    process = ManagedProcess(name, args, log_dir, {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        process.wait_for_output("sandbox terminal listening on", timeout=60)
    except Exception:
        process.stop()
        raise
    url = re.search(r"listening on (http://\S+?)/?$", process.output(), re.M).group(1)
    return SimTerminal(url, process)


@pytest.fixture
def start_sandbox_terminal(output_dir: Path) -> Iterator[Callable[..., SimTerminal]]:
    started: list[SimTerminal] = []

    def start(**options: object) -> SimTerminal:
        terminal = start_terminal(output_dir, name=f"sandbox-terminal-{len(started) + 1}", **options)
        started.append(terminal)
        return terminal

    try:
        yield start
    finally:
        for terminal in started:
            terminal.process.stop()


@pytest.fixture
def sandbox_terminal(start_sandbox_terminal: Callable[..., SimTerminal]) -> SimTerminal:
    return start_sandbox_terminal()
