"""One module per terminal vendor, each implementing ``base.TerminalDriver``; ``driver_for`` picks it by name."""

from __future__ import annotations

from .base import TerminalDriver

VENDORS: dict[str, str] = {"hikvision": "terminals.vendors.hikvision.HikvisionDriver"}


def driver_for(vendor: str, base_url: str, username: str, password: str, *, timeout: float = 10.0,
               terminal_timezone: str = "Asia/Shanghai") -> TerminalDriver:
    """The driver of ``vendor`` for one terminal. A second vendor is one module and one line in VENDORS."""
    from django.utils.module_loading import import_string

    cls = import_string(VENDORS[vendor])
    return cls(base_url, username, password, timeout=timeout, terminal_timezone=terminal_timezone)
