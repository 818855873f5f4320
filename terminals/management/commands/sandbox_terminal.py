"""``python manage.py sandbox_terminal --port 8091 [...]``: run the terminal simulator (sandbox/terminal.py).

The apps do not import the sandbox (import-linter): this command runs it as its own program, ``python -m
sandbox.terminal``, passing every argument through (``--help`` lists them).
"""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


def simulator_command(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The simulator's argv and an environment in which ``sandbox`` is importable from any working folder."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(settings.BASE_DIR), env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", "sandbox.terminal", *args], env


class Command(BaseCommand):
    help = "Run the Hikvision ISAPI terminal simulator (sandbox/terminal.py); arguments pass through to it."

    def run_from_argv(self, argv: list[str]) -> None:
        # Replace this process: Ctrl-C and signals from a process manager reach the simulator itself.
        command, env = simulator_command(argv[2:])
        os.execve(command[0], command, env)

    def add_arguments(self, parser) -> None:
        parser.add_argument("args", nargs="*", help="the simulator's arguments (see --help of sandbox.terminal)")

    def handle(self, *args: str, **options: object) -> None:
        # From call_command: run it as a child and wait.
        command, env = simulator_command(list(args))
        subprocess.run(command, env=env, check=True)
