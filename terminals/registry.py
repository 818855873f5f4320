"""Registering a terminal (the admin and ``add_terminal``): the terminal, its device for the ingest, the secret
of its receiver URL; idempotent by (point, address)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from communities.models import MonitoringPoint
from devices.keys import issue_device_key

from .models import Terminal
from .vendors import TerminalDriver, driver_for


def new_event_secret() -> str:
    return secrets.token_urlsafe(24)


def receiver_url(terminal: Terminal) -> str:
    """Where the terminal pushes its events (the receiver, terminals.receiver)."""
    return f"{settings.TERMINAL_RECEIVER_BASE_URL}/terminals/{terminal.event_secret}/events"


@contextmanager
def driver_of(terminal: Terminal) -> Iterator[TerminalDriver]:
    """The terminal's driver for one piece of work, closed after it (its HTTP connections released)."""
    driver = driver_for(terminal.vendor, terminal.base_url, terminal.username, terminal.password,
                        timeout=settings.TERMINAL_TIMEOUT_SECONDS, terminal_timezone=settings.TIME_ZONE)
    try:
        yield driver
    finally:
        driver.close()


def create_device_for(terminal: Terminal, *, acting_user: AbstractBaseUser | None) -> None:
    """Give a new terminal its device (the ingest's identity of its events; the key is never used: the terminal
    authenticates by the secret in its receiver URL) and that secret."""
    device, _key = issue_device_key(point=terminal.point, name=f"{terminal.vendor} {terminal.base_url}"[:100],
                                    acting_user=acting_user)
    terminal.device = device
    terminal.event_secret = terminal.event_secret or new_event_secret()


@dataclass
class Registered:
    terminal: Terminal
    created: bool
    changed: list[str]


@transaction.atomic
def register_terminal(*, point: MonitoringPoint, vendor: str, base_url: str, username: str, password: str,
                      door: int = 1, acting_user: AbstractBaseUser | None = None) -> Registered:
    """The terminal at ``point`` with this address, created or updated to these values."""
    base_url = base_url.rstrip("/")
    terminal = Terminal.objects.select_for_update().filter(point=point, base_url=base_url).first()
    values = {"vendor": vendor, "username": username, "password": password, "door": door}
    if terminal is None:
        terminal = Terminal(point=point, base_url=base_url, **values)
        create_device_for(terminal, acting_user=acting_user)
        terminal.save()
        return Registered(terminal, True, sorted(values))
    changed = sorted(name for name, value in values.items() if getattr(terminal, name) != value)
    if changed:
        for name in changed:
            setattr(terminal, name, values[name])
        # New login or vendor: read what it holds again and tell it where to push.
        terminal.resync_needed, terminal.event_host_url = True, ""
        terminal.save()
    return Registered(terminal, False, changed)
