"""What should be on a terminal for one resident: present or not, the name, the validity window and the face
JPEG (made by the devices image pipeline, within the terminal's limit). The rule of who is present is
devices.faces.must_recognise."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.utils.translation import gettext as _

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


def face_jpeg(photo: bytes, max_bytes: int) -> tuple[bytes, str]:
    """The face JPEG for a terminal from the resident's photo and its sha256: the city's face-panel rule (the
    same pipeline as the devices' images), refused when the terminal takes less than that."""
    try:
        data = images.process(photo, images.FACE_PANEL).data
    except images.ImageRefused as exc:
        raise TerminalError(str(exc), permanent=True, code="face_quality") from exc
    if len(data) > max_bytes:
        raise TerminalError(_("the face JPEG is %(n)d bytes, the terminal takes at most %(max)d")
                            % {"n": len(data), "max": max_bytes}, permanent=True, code="face_too_large")
    return data, hashlib.sha256(data).hexdigest()
