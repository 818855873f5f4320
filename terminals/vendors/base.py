"""What the portal needs of a face terminal, whatever its vendor: the interface a vendor module implements.

The rest of the terminals app (the reconciler, the event receiver, the gap fetch, the health probe) speaks only
this interface; docs/terminals.md describes it for the next vendor (Dahua, 宇泛 Uface). A driver is stateless
beyond its HTTP session: what should be on a terminal and what was last seen there is kept by the portal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class TerminalError(Exception):
    """A call to a terminal failed. ``permanent``: the terminal understood and refused (a bad photo, a full face
    library, a name too long): retrying the same thing will not help until something changes; otherwise (offline,
    timeout, 5xx, a reboot) it is retried with backoff. ``reason`` is the terminal's own words (subStatusCode and
    errorMsg for ISAPI), ``code`` a vendor-independent code from REFUSAL_CODES when the refusal is known."""

    def __init__(self, reason: str, *, permanent: bool = False, code: str = "") -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.code = reason, permanent, code


# Vendor-independent codes of what a terminal refuses; the portal shows each in Chinese (terminals app).
REFUSAL_CODES = (
    "face_quality",  # no face found, several faces, poor quality
    "face_too_large",  # the JPEG is over the terminal's limit
    "library_full",  # the face library or the person list is at capacity
    "name_invalid",  # the name is too long or has characters the terminal refuses
    "bad_field",  # another field refused (a time format, an id)
    "not_found",  # the person is not on the terminal (a face for an absent person)
    "auth",  # the login was refused (Digest)
)


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    firmware: str
    serial: str
    name: str = ""


@dataclass(frozen=True)
class TerminalPerson:
    """A person as the terminal holds (or should hold) them. ``employee_no`` is the portal's stable id (at most 32
    characters); ``valid_from``/``valid_to`` are aware datetimes (the driver converts to the terminal's local
    time); ``has_face`` says, when read back, whether the terminal holds a face for them."""

    employee_no: str
    name: str
    valid_from: datetime
    valid_to: datetime
    door: int = 1
    has_face: bool = False


@dataclass(frozen=True)
class TerminalEvent:
    """An access event as the terminal reports it (pushed, or found by the event search). ``serial_no`` is the
    terminal's own increasing number of the event (the gap detection and the duplicate key); ``is_pass`` is true
    only for a successful authentication that opened the door for a known person (``employee_no``); heartbeats
    and other events have it false and are acknowledged, not forwarded. ``picture`` is the capture, if any."""

    serial_no: int
    occurred_at: datetime
    is_pass: bool
    employee_no: str = ""
    verify_mode: str = ""
    major: int = 0
    minor: int = 0
    picture: bytes | None = None


class TerminalDriver(Protocol):
    """One terminal of one vendor. Every method raises TerminalError on failure; none retries by itself."""

    vendor: str
    # The largest face JPEG the terminal takes, in bytes, and the smallest picture it accepts.
    face_max_bytes: int
    face_min_size: tuple[int, int]

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10.0,
                 terminal_timezone: str = "Asia/Shanghai") -> None: ...

    def device_info(self) -> DeviceInfo: ...

    def list_people(self) -> Iterator[TerminalPerson]:
        """Everyone on the terminal, paged by the driver."""
        ...

    def add_person(self, person: TerminalPerson) -> None: ...

    def update_person(self, person: TerminalPerson) -> None: ...

    def delete_people(self, employee_nos: list[str]) -> None:
        """Remove these people (and their faces); absent ones are not an error."""
        ...

    def set_face(self, employee_no: str, jpeg: bytes) -> None:
        """Put (or replace) the person's face; the person must be on the terminal."""
        ...

    def delete_face(self, employee_no: str) -> None: ...

    def set_event_host(self, url: str) -> None:
        """Tell the terminal to push its events (JSON with pictures) to ``url``."""
        ...

    def search_events(self, start: datetime, end: datetime) -> Iterator[TerminalEvent]:
        """The access events the terminal kept between ``start`` and ``end``, oldest first, with their pictures,
        paged by the driver."""
        ...

    def parse_push(self, content_type: str, body: bytes) -> list[TerminalEvent]:
        """The events in one push the terminal posted to the receiver (a heartbeat is an event with is_pass
        false); a body that is not the vendor's push raises ValueError with the reason."""
        ...

    def close(self) -> None:
        """Release the driver's HTTP connections; call it when done (HikvisionDriver is also a context manager).
        Added with the Hikvision driver: an unclosed session leaves sockets open until garbage collection."""
        ...
