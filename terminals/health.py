"""Is each terminal there? The probe reads its device information (model, firmware, serial); a terminal that
comes back (or answers with another serial number: replaced) is re-read and its missed events fetched; one
offline longer than TERMINAL_OFFLINE_ALERT_SECONDS alerts the community's support contacts once per incident
(a guarded UPDATE of ``alert_state``, like uploads.alerts), and once more when it is back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.celery_app import start_task
from communities.support import notify_support

from .events import heard_from
from .models import Terminal
from .registry import driver_of, receiver_url
from .vendors.base import DeviceInfo, TerminalDriver, TerminalError

log = logging.getLogger(__name__)


@dataclass
class Probe:
    ok: bool
    info: DeviceInfo | None = None
    error: str = ""


def unreachable_text(exc: Exception) -> str:
    if isinstance(exc, TerminalError):
        return exc.reason
    return _("the terminal's driver could not be used: %(error)s") % {"error": type(exc).__name__}


def tell_event_host(terminal: Terminal, driver: TerminalDriver, *, replaced: bool) -> str:
    """Tell the terminal where to push its events unless it was told this address already; the error, if any."""
    url = receiver_url(terminal)
    if not terminal.events_enabled or (terminal.event_host_url == url and not replaced):
        return ""
    try:
        driver.set_event_host(url)
    except TerminalError as exc:
        log.warning("terminal %s: could not set the event host: %s", terminal.pk, exc.reason)
        return exc.reason
    Terminal.objects.filter(pk=terminal.pk).update(event_host_url=url)
    return ""


def probe(terminal: Terminal) -> Probe:
    """Ask the terminal who it is and record its health; tell it where to push events if it was not told yet."""
    now = timezone.now()
    try:
        with driver_of(terminal) as driver:
            info = driver.device_info()
            host_error = tell_event_host(terminal, driver, replaced=bool(terminal.serial) and info.serial != terminal.serial)
    except Exception as exc:  # a driver that cannot even be loaded is as unreachable as a dead terminal
        error = unreachable_text(exc)
        Terminal.objects.filter(pk=terminal.pk).update(online=False, last_probe_at=now, last_error=error[:300])
        Terminal.objects.filter(pk=terminal.pk, offline_since__isnull=True).update(offline_since=now)
        return Probe(False, error=error)
    came_back = not terminal.online
    replaced = bool(terminal.serial) and info.serial != terminal.serial
    updates = {"online": True, "offline_since": None, "last_probe_at": now, "last_contact_at": now,
               "model": info.model[:100], "firmware": info.firmware[:100], "serial": info.serial[:100],
               "last_error": host_error[:300]}
    if came_back or replaced:
        updates["resync_needed"] = True
    Terminal.objects.filter(pk=terminal.pk).update(**updates)
    heard_from(terminal, now)
    if came_back or replaced:
        # What it holds may be gone (a reset) and its pushes were lost while it was away.
        start_task("terminals.reconcile_terminal", terminal.pk, what=f"terminal {terminal.pk}")
        if terminal.events_enabled:
            start_task("terminals.fetch_gap", terminal.pk, what=f"terminal {terminal.pk} events")
    return Probe(True, info=info)


def offline_for_alert(terminal: Terminal, now: datetime) -> bool:
    return (not terminal.online and terminal.offline_since is not None
            and now - terminal.offline_since >= timedelta(seconds=settings.TERMINAL_OFFLINE_ALERT_SECONDS))


def check_alert(terminal_id: int) -> str:
    """Alert on a transition (offline long enough, or back): once, whatever the number of processes."""
    terminal = Terminal.objects.select_related("point__community").get(pk=terminal_id)
    now, community = timezone.now(), terminal.point.community
    names = {"point": terminal.point.number, "url": terminal.base_url, "community": community.name}
    if offline_for_alert(terminal, now) and terminal.alert_state == Terminal.Alert.UP:
        if Terminal.objects.filter(pk=terminal.pk, alert_state=Terminal.Alert.UP).update(alert_state=Terminal.Alert.DOWN):
            notify_support(
                community, _("[afxq] %(community)s: face terminal at %(point)s is offline") % names,
                _("The face terminal %(url)s at point %(point)s of %(community)s has not answered since %(since)s.\n"
                  "Last error: %(error)s\nIts passes are fetched from it once it is back.")
                % {**names, "since": timezone.localtime(terminal.offline_since).strftime("%Y-%m-%d %H:%M:%S"),
                   "error": terminal.last_error or _("no answer")}, "down", about="terminal")
        return Terminal.Alert.DOWN
    if terminal.online and terminal.alert_state == Terminal.Alert.DOWN:
        if Terminal.objects.filter(pk=terminal.pk, alert_state=Terminal.Alert.DOWN).update(alert_state=Terminal.Alert.UP):
            notify_support(community, _("[afxq] %(community)s: face terminal at %(point)s is back") % names,
                           _("The face terminal %(url)s at point %(point)s of %(community)s answers again.") % names,
                           "up", about="terminal")
        return Terminal.Alert.UP
    return terminal.alert_state


def probe_terminal(terminal_id: int) -> str:
    terminal = Terminal.objects.select_related("point").filter(pk=terminal_id).first()
    if terminal is None:
        return "gone"
    outcome = probe(terminal)
    check_alert(terminal_id)
    return "online" if outcome.ok else "offline"
