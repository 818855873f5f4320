"""A terminal's access events into the ingest: each successful face authentication becomes a pass event through
the same checks, image pipeline and outbox as the JSON API (devices.ingest), identified by the terminal's
serialNo (``event_id_of``), so that an event pushed twice, or pushed and then found by the event
search, is stored once. The gap fetch searches the terminal for what its pushes missed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from afxq_portal.celery_app import start_task
from devices.ingest import Answer, ingest_events
from devices.models import Device, DeviceEvent

from .models import Terminal, TerminalMember
from .registry import driver_of
from .vendors.base import TerminalError, TerminalEvent

log = logging.getLogger(__name__)


# A serialNo seen again with a time this far from the stored event's is another event: the terminal was reset or
# replaced and counts from 1 again. Closer than this it is the same event, pushed again or found by the search
# (their times may differ by the clock's rounding or a time zone's notation, never by hours).
SAME_EVENT_WINDOW = timedelta(hours=1)


def event_id_of(terminal: Terminal, event: TerminalEvent) -> str:
    """The event's key on the terminal's device: ``sn-<serialNo>``; for a serialNo already taken by an event of
    another time (a reset terminal), that key with the event's time; without a serialNo (0), its time and person."""
    seconds = int(event.occurred_at.timestamp())
    if event.serial_no <= 0:
        return f"t-{seconds}-{event.employee_no}"[:64]
    plain = f"sn-{event.serial_no}"
    earlier = (DeviceEvent.objects.filter(device=terminal.device, device_event_id=plain)
               .values_list("occurred_at", flat=True).first())
    if earlier is None or abs(earlier - event.occurred_at) <= SAME_EVENT_WINDOW:
        return plain
    return f"{plain}-{seconds}"


def person_of(terminal: Terminal, employee_no: str) -> str:
    """How the ingest finds the resident (devices.ingest.fields.find_resident: our id); someone not ours is
    named so that no id of ours can match, and the ingest refuses and keeps the refusal (RefusedEvent)."""
    resident_id = (TerminalMember.objects.filter(terminal=terminal, employee_no=employee_no)
                   .values_list("resident_id", flat=True).first())
    return str(resident_id) if resident_id is not None else f"terminal:{employee_no}"


def event_dict(terminal: Terminal, event: TerminalEvent) -> dict[str, Any]:
    # No direction: the ingest takes the point's (a face panel opens one way).
    key = event_id_of(terminal, event)
    item: dict[str, Any] = {"eventId": key, "time": event.occurred_at.isoformat(),
                            "person": person_of(terminal, event.employee_no)}
    if event.picture:
        item["image"] = SimpleUploadedFile(f"{key}.jpg", event.picture, content_type="image/jpeg")
    return item


class NotStored(Exception):
    """The ingest could not store an event for a reason of the server's (storage, budget): to be sent again."""


def ingest_pass(terminal: Terminal, event: TerminalEvent, started: float | None = None) -> Answer:
    """One pass into the ingest; raises NotStored when it must come again (a refusal of the event itself is an
    answer: kept by the ingest as a RefusedEvent, and the terminal must not resend it forever)."""
    answer = ingest_events(terminal.device, DeviceEvent.Kind.PASS, [event_dict(terminal, event)], started)[0]
    if answer.resend:
        raise NotStored(answer.errors[0].reason if answer.errors else "")
    return answer


def known(terminal: Terminal, event: TerminalEvent) -> bool:
    return DeviceEvent.objects.filter(device=terminal.device, device_event_id=event_id_of(terminal, event)).exists()


def note_events(terminal: Terminal, events: list[TerminalEvent], *, detect_gap: bool = True) -> None:
    """The terminal was heard from; the highest serialNo and the last pass. A jump in serialNo (pushes lost
    while the portal or the network was down) starts the gap fetch."""
    now = timezone.now()
    updates: dict[str, Any] = {"last_contact_at": now}
    serials = [e.serial_no for e in events if e.serial_no > 0]
    if serials:
        updates["last_serial_no"] = Greatest(F("last_serial_no"), max(serials))
    if any(e.is_pass for e in events):
        updates["last_event_at"] = now
    Terminal.objects.filter(pk=terminal.pk).update(**updates)
    heard_from(terminal, now)
    if detect_gap and serials and terminal.last_serial_no and min(serials) > terminal.last_serial_no + 1:
        log.info("terminal %s: serialNo jumped from %d to %d, fetching the gap", terminal.pk,
                 terminal.last_serial_no, min(serials))
        start_task("terminals.fetch_gap", terminal.pk, what=f"terminal {terminal.pk} events")


def heard_from(terminal: Terminal, now: datetime) -> None:
    """The terminal's device row says when it was last heard from, as a device of the JSON API does (the dashboard's
    device list); its silence is the terminal's offline alert, not the devices app's (apps.py)."""
    Device.objects.filter(pk=terminal.device_id).update(last_seen_at=now)


def window_start(terminal: Terminal) -> datetime:
    margin = timedelta(seconds=settings.TERMINAL_EVENT_MARGIN_SECONDS)
    return (terminal.events_checked_until or terminal.created_at) - margin


def fetch_gap(terminal_id: int, now: datetime | None = None) -> str:
    """Search the terminal for its events since the time up to which all are known (less a margin), ingest every
    pass not yet stored, then move that time on; a failure leaves it, so the next fetch covers the same range."""
    terminal = (Terminal.objects.select_related("point__community", "device__point__community")
                .filter(pk=terminal_id).filter(Q(events_enabled=True)).first())
    if terminal is None:
        return "disabled"
    end = now or timezone.now()
    stored = 0
    try:
        with driver_of(terminal) as driver:
            found = list(driver.search_events(window_start(terminal), end))
        for event in found:
            if event.is_pass and not known(terminal, event):
                ingest_pass(terminal, event)
                stored += 1
    except (TerminalError, NotStored) as exc:
        log.warning("terminal %s: gap fetch stopped: %s", terminal_id, exc)
        return "failed"
    if found:
        note_events(terminal, found, detect_gap=False)
    Terminal.objects.filter(pk=terminal.pk).update(events_checked_until=end)
    return f"stored {stored}"
