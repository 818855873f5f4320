"""What should be on a terminal for one resident: present or not, the name, the validity window and the face
JPEG (made by the devices image pipeline, within the terminal's limit). The rule of who is present is
devices.faces.must_recognise."""

from __future__ import annotations

import hashlib
from datetime import datetime

from devices import images
from uploads.contract import SHANGHAI

from .vendors.base import TerminalError

# A long-term resident's window as terminals hold it (ISAPI terminals take years up to 2037).
LONG_TERM_FROM = datetime(2000, 1, 1, tzinfo=SHANGHAI)
LONG_TERM_TO = datetime(2037, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)


def employee_no_of(resident_id: int) -> str:
    """Our stable id of a resident on every terminal (at most 32 characters; never a personal number)."""
    return f"R{resident_id}"


def window(valid_from: datetime | None, valid_until: datetime | None) -> tuple[datetime, datetime]:
    """The resident's window to the second (terminals keep no more), long-term ends filled in."""
    start = (valid_from or LONG_TERM_FROM).replace(microsecond=0)
    end = (valid_until or LONG_TERM_TO).replace(microsecond=0)
    return start, min(end, LONG_TERM_TO)


def face_jpeg(photo: bytes, max_bytes: int, min_size: tuple[int, int]) -> tuple[bytes, str]:
    """The face JPEG for a terminal from the resident's photo, and its sha256: the devices image pipeline (EXIF
    orientation applied, no metadata, the largest size and best quality within ``max_bytes``) to the terminal's
    own limits (its driver's face_max_bytes and face_min_size), not the city's rule for pass records: a portrait
    smaller than the city's 800x600 is a good face for a terminal."""
    rule = images.ImageRule(min_width=min_size[0], min_height=min_size[1], max_bytes=max_bytes)
    try:
        data = images.process_to_rule(photo, rule).data
    except images.ImageRefused as exc:
        raise TerminalError(str(exc), permanent=True, code="face_quality") from exc
    return data, hashlib.sha256(data).hexdigest()
