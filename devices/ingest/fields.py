"""The checks of an event's fields: each returns the clean value or raises Refused naming the field."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.text import ascii_digits, line_problem
from afxq_portal.validators import id_card_problem, normalise_id_card
from communities.models import Direction, MonitoringPoint
from residents.models import Resident
from uploads import contract
from uploads.contract import CITY_TIME_FORMAT, SHANGHAI, PlateType

from .. import images
from .answers import Refused

# Province abbreviations of mainland plates.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province + issuing-office letter + 5 characters (the last may be 挂学警港澳领使), or 6 for new energy
# (D/F/A–K… mixes letters and digits). I and O are never used, to avoid confusion with 1 and 0.
_PLATE_RE = re.compile(
    rf"^[{_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳领使]|[A-HJ-NP-Z0-9]{{6}})$"
)
_CITY_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
_DATA_URL_RE = re.compile(r"^data:image/[a-z]+;base64,", re.IGNORECASE)


def future_skew() -> timedelta:
    return timedelta(seconds=settings.DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS)


def max_age() -> timedelta:
    return timedelta(days=settings.DEVICE_EVENT_MAX_AGE_DAYS)


def clean_time(value: Any, field_name: str = "time") -> datetime:
    """ISO 8601 with an offset, or the city's ``yyyy-MM-dd HH:mm:ss`` in its time zone; not too far in the
    future (clocks of devices drift: DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS) nor older than
    DEVICE_EVENT_MAX_AGE_DAYS."""
    if not isinstance(value, str) or not value.strip():
        raise Refused(field_name, _("is required (ISO 8601 with offset, or yyyy-MM-dd HH:mm:ss)"))
    text = value.strip()
    if _CITY_TIME_RE.match(text):
        try:
            moment = datetime.strptime(text, CITY_TIME_FORMAT).replace(tzinfo=SHANGHAI)
        except ValueError as exc:
            raise Refused(field_name, _("is not a real date and time")) from exc
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise Refused(field_name, _("is not ISO 8601 with offset nor yyyy-MM-dd HH:mm:ss")) from exc
        if moment.tzinfo is None:
            raise Refused(field_name, _("has no offset: add one (e.g. +08:00) or use yyyy-MM-dd HH:mm:ss"))
    now = timezone.now()
    if moment > now + future_skew():
        raise Refused(field_name, _("is %(s)d seconds in the future; at most %(max)d are tolerated")
                      % {"s": (moment - now).total_seconds(), "max": future_skew().total_seconds()})
    if moment < now - max_age():
        raise Refused(field_name, _("is older than %(days)d days") % {"days": max_age().days})
    return moment


def clean_direction(value: Any, point: MonitoringPoint) -> str:
    if value in (None, ""):
        return point.default_direction
    if isinstance(value, str) and value.strip().lower() in Direction.values:
        return value.strip().lower()
    raise Refused("direction", _("must be “in” or “out”"))


def clean_pass_type(value: Any, point: MonitoringPoint) -> str:
    """The direction of a snapshot's passType, which devices send in the city's code (0 in, 1 out); the point's
    direction when absent."""
    if value in (None, ""):
        return point.default_direction
    directions = {str(code): direction for direction, code in contract.PASS_TYPE.items()}
    if isinstance(value, bool) or str(value).strip() not in directions:
        raise Refused("passType", _("must be 0 (in) or 1 (out)"))
    return directions[str(value).strip()]


def clean_plate(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused("plate", _("is required"))
    plate = value.strip().upper().replace(" ", "").replace("·", "")
    if not _PLATE_RE.match(plate):
        raise Refused("plate", _("is not a licence plate: a province character, a letter, then 5 characters "
                                 "(6 for new-energy plates), e.g. 川A12345 or 川AD12345"))
    return plate


def clean_plate_type(value: Any) -> str:
    """A code of the contract's table (附录1), given as "02" or 2."""
    if value in (None, ""):
        raise Refused("plateType", _("is required (a code 01–52 of the plate type table)"))
    text = str(value).strip()
    if isinstance(value, bool) or not ascii_digits(text):
        raise Refused("plateType", _("must be a code of the plate type table (01–27, 51, 52)"))
    code = f"{int(text):02d}"
    if code not in PlateType.values:
        raise Refused("plateType", _("%(code)s is not in the plate type table (01–27, 51, 52)") % {"code": code})
    return code


def clean_id_number(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Refused("idNumber", _("must be a string"))
    problem = id_card_problem(value)
    if problem:
        raise Refused("idNumber", _("ID card %(problem)s") % {"problem": problem})
    return normalise_id_card(value)


def clean_person_name(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value.strip()) > 50:
        raise Refused("personName", _("must be text of at most 50 characters"))
    problem = line_problem(value.strip())
    if problem:
        raise Refused("personName", problem)
    return value.strip() or None


def clean_event_id(value: Any) -> str:
    """The device's own id of the event: optional, at most 64 printable characters."""
    if value in (None, ""):
        return ""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not text or len(text) > 64 or not text.isprintable():
        raise Refused("eventId", _("must be text or a number of at most 64 characters"))
    return text


def find_resident(community_id: int, value: Any, moment: datetime) -> Resident:
    """The person of a pass, by the city ownerId, the initialisation UUID or our id, in this community
    only; refused unless they may pass at ``moment``."""
    if value in (None, "") or isinstance(value, bool):
        raise Refused("person", _("is required (our resident id, the city ownerId or the initialisation UUID)"))
    text = str(value).strip()
    residents = Resident.objects.filter(community_id=community_id)
    resident = residents.filter(city_owner_id=text).first()
    if resident is None:
        try:
            resident = residents.filter(init_uuid=uuid.UUID(text)).first()
        except ValueError:
            resident = None
    if resident is None and ascii_digits(text):
        resident = residents.filter(pk=int(text)).first()
    if resident is None:
        raise Refused("person", _("unknown person in this community"))
    refusals = {
        Resident.Status.PENDING: _("the resident is not yet approved"),
        Resident.Status.REJECTED: _("the resident was rejected"),
        Resident.Status.EXPIRED: _("the resident has expired"),
    }
    if resident.status in refusals:
        raise Refused("person", refusals[resident.status])
    if not resident.is_valid_at(moment):
        raise Refused("person", _("the time is outside the resident's validity window"))
    if not resident.user_id:
        raise Refused("person", _("the resident has no city userId (ownerId or initialisation UUID) yet"))
    return resident


def image_bytes(value: Any, field_name: str) -> bytes:
    """An image as base64 text (JSON) or an uploaded file (multipart)."""
    if isinstance(value, UploadedFile):
        if value.size > images.MAX_INPUT_BYTES:
            raise Refused(field_name, _("the image is %(n)d bytes; at most %(max)d are accepted")
                          % {"n": value.size, "max": images.MAX_INPUT_BYTES})
        return value.read()
    if not isinstance(value, str) or not value.strip():
        raise Refused(field_name, _("is required (base64 text, or a file in multipart)"))
    if len(value) > images.MAX_INPUT_BYTES * 3 // 2:  # base64 with line breaks: 4/3 and a little more
        raise Refused(field_name, _("the image is larger than %(max)d bytes") % {"max": images.MAX_INPUT_BYTES})
    # Some devices wrap base64 at 76 characters (MIME style): line breaks are not errors.
    text = "".join(_DATA_URL_RE.sub("", value.strip()).split())
    if len(text) > images.MAX_INPUT_BYTES * 4 // 3 + 4:
        raise Refused(field_name, _("the image is larger than %(max)d bytes") % {"max": images.MAX_INPUT_BYTES})
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused(field_name, _("is not valid base64")) from exc


def image_list(value: Any) -> list[Any]:
    if value in (None, "", []):
        raise Refused("images", _("at least one image is required"))
    values = value if isinstance(value, list) else [value]
    if len(values) > contract.MAX_SNAPSHOT_PHOTOS:
        raise Refused("images", _("at most %(n)d images per snapshot") % {"n": contract.MAX_SNAPSHOT_PHOTOS})
    return values


def processed(data: bytes, field_name: str, kind: str, hint: Hashable = None) -> bytes:
    try:
        return images.process(data, kind, hint).data
    except images.ImageRefused as exc:
        raise Refused(field_name, str(exc)) from exc


class Checker:
    """Runs the checks of one event and keeps every refusal (one per field), not only the first."""

    def __init__(self) -> None:
        self.errors: list[Refused] = []

    def __call__(self, check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except Refused as exc:
            self.errors.append(exc)
            return None


PASS_FIELDS = {"eventId", "person", "direction", "time", "image", "faceImage"}
FACE_FIELDS = {"eventId", "passType", "time", "images", "idNumber", "personName"}
CAR_FIELDS = {"eventId", "plate", "plateType", "passType", "time", "images"}
# Taken from the device key: saying them in the body is a mistake worth telling the device about.
KEY_FIELDS = {"communityId", "policePointId", "point", "community"}


def unknown_fields(event: dict, allowed: set[str]) -> list[Refused]:
    refusals = []
    for name in sorted(set(event) - allowed):
        if name in KEY_FIELDS:
            refusals.append(Refused(name, _("is not accepted: the point and community come from the device key")))
        else:
            refusals.append(Refused(name, _("unknown field")))
    return refusals
