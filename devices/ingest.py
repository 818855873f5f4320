"""Ingest: events from devices become device events and outbox rows, one answer per event.

Every event is checked field by field; a refused event names the field and the reason and is counted
on the device. The images of every event are made to meet the city's rules first (``devices.images``),
within what one request may ask (``Budget``: the events beyond it are refused, to be sent again); then the
accepted events are stored, each with its outbox row, in one transaction, just before the answer. The
point, the community and the ``policePointId`` come from the device's key, never from the body.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.text import ascii_digits, line_problem, nested_problems
from afxq_portal.validators import id_card_problem, normalise_id_card
from communities.models import Direction, MonitoringPoint
from residents.models import Resident
from uploads import contract
from uploads.contract import CITY_TIME_FORMAT, SHANGHAI, PlateType
from uploads.services import delete_images, enqueue_record

from . import images
from .models import Device, DeviceEvent

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 100

# Province abbreviations of mainland plates.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province + issuing-office letter + 5 characters (the last may be 挂学警港澳领使), or 6 for new energy
# (D/F/A–K… mixes letters and digits). I and O are never used, to avoid confusion with 1 and 0.
_PLATE_RE = re.compile(
    rf"^[{_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳领使]|[A-HJ-NP-Z0-9]{{6}})$"
)
_CITY_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
_DATA_URL_RE = re.compile(r"^data:image/[a-z]+;base64,", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class OverBudget(Exception):
    """The request's budget of image work is spent: the event is left untouched, for the device to resend."""


def max_pixels_per_request() -> int:
    return getattr(settings, "DEVICE_API_MAX_PIXELS_PER_REQUEST", 150_000_000)


def budget_seconds() -> float:
    return getattr(settings, "DEVICE_API_BUDGET_SECONDS", 10.0)


@dataclass
class Budget:
    """What one request may ask of the image pipeline: decoded pixels (from the images' headers, before any
    decode) and wall-clock time since the request began. Both stay well under gunicorn's timeout, so the
    request always gets its answer; the events beyond them are refused, to be sent again."""

    max_pixels: int
    deadline: float
    pixels: int = 0
    events: int = 0
    spent: bool = False

    @classmethod
    def for_request(cls, started: float | None = None) -> Budget:
        start = time.monotonic() if started is None else started
        return cls(max_pixels=max_pixels_per_request(), deadline=start + budget_seconds())

    def admit(self, pixels: int) -> None:
        """Charge an event's pixels before its images are decoded, or raise OverBudget. The first event is
        always admitted (each of its images is within every limit), so that every request makes progress;
        once one event is over, so is every later one, and the device resends the tail in order."""
        if self.events and (self.spent or self.pixels + pixels > self.max_pixels
                            or time.monotonic() > self.deadline):
            self.spent = True
            raise OverBudget
        self.pixels += pixels
        self.events += 1


class Deferred(Refused):
    """Refused only because the request's budget was spent: nothing of the event was stored or processed."""

    def __init__(self) -> None:
        super().__init__("event", _(
            "not processed: this request reached its limit of image work (%(mp)d megapixels or %(s)d seconds); "
            "nothing of this event was stored: send it again in another request")
            % {"mp": max_pixels_per_request() // 1_000_000, "s": budget_seconds()})


@dataclass
class Answer:
    index: int
    event: DeviceEvent | None = None
    errors: list[Refused] = field(default_factory=list)
    duplicate: bool = False
    # Checked and processed, not yet stored: ``store_drafts`` stores every draft of the request at once.
    draft: Draft | None = None
    # Refused for a reason of the server's (budget, storage): the same event, sent again, can be accepted.
    resend: bool = False

    def as_dict(self) -> dict[str, Any]:
        if self.event is not None:
            answer = {"index": self.index, "status": "accepted", "id": self.event.out_id}
            return {**answer, "duplicate": True} if self.duplicate else answer
        first = self.errors[0]
        refusal = {"index": self.index, "status": "refused", "field": first.field, "reason": first.reason,
                   "errors": [{"field": e.field, "reason": e.reason} for e in self.errors]}
        return {**refusal, "resend": True} if self.resend else refusal


# --- Field checks: each returns the clean value or raises Refused naming the field -------------------

def future_skew() -> timedelta:
    return timedelta(seconds=getattr(settings, "DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS", 300))


def max_age() -> timedelta:
    return timedelta(days=getattr(settings, "DEVICE_EVENT_MAX_AGE_DAYS", 30))


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


def processed(data: bytes, field_name: str, kind: str) -> bytes:
    try:
        return images.process(data, kind).data
    except images.ImageRefused as exc:
        raise Refused(field_name, str(exc)) from exc


# --- The three kinds of event ----------------------------------------------------------------------

@dataclass
class Draft:
    """An event that passed every check: what to store and what to send."""

    kind: str
    occurred_at: datetime
    record: contract.Record  # for the city, from uploads.contract
    resident_id: int | None = None
    direction: str = ""
    plate: str = ""
    event_id: str = ""


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


def check_pass_event(device: Device, event: dict, budget: Budget) -> Draft | list[Refused]:
    point, community = device.point, device.point.community
    check = Checker()
    check.errors += unknown_fields(event, PASS_FIELDS)
    moment = check(clean_time, event.get("time"))
    direction = check(clean_direction, event.get("direction"), point)
    resident = check(find_resident, community.pk, event.get("person"), moment) if moment else None
    if "image" not in event or event.get("image") in (None, ""):
        check.errors.append(Refused("image", _("is required (the capture)")))
    if check.errors:
        return check.errors
    capture = check(image_bytes, event["image"], "image")
    crop = check(image_bytes, event["faceImage"], "faceImage") if event.get("faceImage") not in (None, "") else None
    if check.errors:
        return check.errors
    budget.admit(sum(images.decoded_pixels(data, images.FACE_PANEL) for data in (capture, crop) if data))
    try:
        small, big = images.pass_record_images(capture, crop)
    except images.ImageRefused as exc:
        return [Refused("faceImage" if exc.source == "face_crop" else "image", str(exc))]
    record = contract.pass_record(
        community_id=community.city_id, opened_at=moment, person_type=resident.person_type, user_id=resident.user_id,
        police_point_id=point.police_point_id, direction=direction, small_image=small.data, big_image=big.data)
    return Draft(DeviceEvent.Kind.PASS, moment, record, resident_id=resident.pk, direction=direction)


def snapshot_images(check: Checker, event: dict, budget: Budget) -> list[bytes]:
    values = check(image_list, event.get("images")) or []
    raw = {number: check(image_bytes, value, f"images[{number - 1}]") for number, value in enumerate(values, start=1)}
    raw = {number: data for number, data in raw.items() if data is not None}
    if raw:
        budget.admit(sum(images.decoded_pixels(data, images.SNAPSHOT) for data in raw.values()))
    out: list[bytes] = []
    for number, data in raw.items():
        made = check(processed, data, f"images[{number - 1}]", images.SNAPSHOT)
        if made is not None:
            out.append(made)
    return out


def check_face_snapshot(device: Device, event: dict, budget: Budget) -> Draft | list[Refused]:
    point, community = device.point, device.point.community
    check = Checker()
    check.errors += unknown_fields(event, FACE_FIELDS)
    moment = check(clean_time, event.get("time"))
    direction = check(clean_pass_type, event.get("passType"), point)
    id_number = check(clean_id_number, event.get("idNumber"))
    name = check(clean_person_name, event.get("personName"))
    if check.errors:
        return check.errors
    photos = snapshot_images(check, event, budget)
    if check.errors:
        return check.errors
    record = contract.face_snapshot(community_id=community.city_id, passed_at=moment, direction=direction,
                                    police_point_id=point.police_point_id, photos=photos, id_number=id_number,
                                    person_name=name)
    return Draft(DeviceEvent.Kind.FACE, moment, record, direction=direction)


def check_car_snapshot(device: Device, event: dict, budget: Budget) -> Draft | list[Refused]:
    point, community = device.point, device.point.community
    check = Checker()
    check.errors += unknown_fields(event, CAR_FIELDS)
    moment = check(clean_time, event.get("time"))
    plate = check(clean_plate, event.get("plate"))
    plate_type = check(clean_plate_type, event.get("plateType"))
    direction = check(clean_pass_type, event.get("passType"), point)
    if check.errors:
        return check.errors
    photos = snapshot_images(check, event, budget)
    if check.errors:
        return check.errors
    record = contract.car_snapshot(community_id=community.city_id, passed_at=moment, direction=direction,
                                   police_point_id=point.police_point_id, plate=plate, plate_type=plate_type,
                                   photos=photos)
    return Draft(DeviceEvent.Kind.CAR, moment, record, direction=direction, plate=plate)


CHECKS: dict[str, Callable[[Device, dict, Budget], Draft | list[Refused]]] = {
    DeviceEvent.Kind.PASS: check_pass_event,
    DeviceEvent.Kind.FACE: check_face_snapshot,
    DeviceEvent.Kind.CAR: check_car_snapshot,
}
# The point kind a device must be at to send each kind of event.
POINT_KIND = {
    DeviceEvent.Kind.PASS: MonitoringPoint.Kind.FACE_PANEL,
    DeviceEvent.Kind.FACE: MonitoringPoint.Kind.FACE_SNAPSHOT,
    DeviceEvent.Kind.CAR: MonitoringPoint.Kind.VEHICLE_SNAPSHOT,
}


def record_event(device: Device, draft: Draft) -> DeviceEvent:
    """The event and its outbox row, together or not at all. The event's id is the record's outId."""
    community = device.point.community
    written: list[str] = []
    try:
        with transaction.atomic():
            event = DeviceEvent.objects.create(
                community=community, device=device, point=device.point, kind=draft.kind,
                occurred_at=draft.occurred_at, resident_id=draft.resident_id, direction=draft.direction,
                plate=draft.plate, device_event_id=draft.event_id)
            record = draft.record
            fields = (contract.with_out_id(record.fields, event.out_id) if draft.kind == DeviceEvent.Kind.PASS
                      else record.fields)
            event.outbox_record = enqueue_record(community=community, endpoint=record.endpoint, fields=fields,
                                                 images=record.images)
            written = list(event.outbox_record.images.values())
            event.save(update_fields=["outbox_record"])
    except BaseException:
        # enqueue_record wrote the images to storage before this transaction ends, and a rollback (anything
        # raising after it returned, the commit included) does not remove files: delete them, or they stay
        # with no row pointing at them. (If enqueue_record itself raised, it already deleted its own.)
        delete_images(written)
        raise
    return event


def ingest_events(device: Device, kind: str, events: list[Any], started: float | None = None) -> list[Answer]:
    """Check each event on its own (one bad event never costs the others) and make its images, within the
    request's budget (``Budget``, from ``started``, the request's arrival); then store every accepted event in
    one short transaction, so that an answer is lost only when nothing of it was committed. The text of the
    whole batch is checked first: an event that cannot be stored is refused by name, never by an error after
    other events were stored."""
    budget = Budget.for_request(started)
    screened = [text_refusals(event) if isinstance(event, dict) else [] for event in events]
    answers = [Answer(index, errors=screened[index]) if screened[index]
               else ingest_event(device, kind, index, event, budget) for index, event in enumerate(events)]
    store_drafts(device, answers)
    return answers


def ingest_event(device: Device, kind: str, index: int, event: Any, budget: Budget) -> Answer:
    """One event whose text ingest_events already checked."""
    answer = Answer(index)
    if not isinstance(event, dict):
        answer.errors = [Refused("event", _("must be an object"))]
        return answer
    try:
        event_id = clean_event_id(event.get("eventId"))
    except Refused as exc:
        answer.errors = [exc]
        return answer
    # A resend of an event already accepted: the same answer, no second record (and no image work).
    earlier = DeviceEvent.objects.filter(device=device, device_event_id=event_id).first() if event_id else None
    if earlier is not None:
        answer.event, answer.duplicate = earlier, True
        return answer
    try:
        outcome = CHECKS[kind](device, event, budget)
    except OverBudget:
        answer.errors, answer.resend = [Deferred()], True
        return answer
    if not isinstance(outcome, Draft):
        answer.errors = outcome
        return answer
    outcome.event_id = event_id
    answer.draft = outcome
    return answer


def store_drafts(device: Device, answers: list[Answer]) -> None:
    """Every draft of the request and the device's counters in one transaction; each event in a savepoint of
    its own, so that one that cannot be stored is refused alone. If the transaction does not commit, the
    files written for its events are deleted and the error propagates: the device gets no "accepted"."""
    written: list[str] = []
    try:
        with transaction.atomic():
            for answer in answers:
                if answer.draft is not None:
                    written += store_draft(device, answer)
            count_answers(device, answers)
    except BaseException:
        delete_images(written)
        raise


def store_draft(device: Device, answer: Answer) -> list[str]:
    """Store ``answer``'s draft; the image files written for it (none if it was not stored)."""
    draft, answer.draft = answer.draft, None
    try:
        answer.event = record_event(device, draft)  # its atomic block is a savepoint of store_drafts' transaction
    except OSError as exc:
        # The media folder is full or unwritable: the savepoint rolled back and the outbox removed the files it
        # had written, so nothing half-stored is kept. Refused with the reason; the device resends.
        logger.error("device %s: event %d not stored, its images could not be written: %s", device.key_prefix,
                     answer.index, exc.strerror or type(exc).__name__)
        answer.errors = [Refused("images", _("could not be stored: the server's storage is full or unwritable; "
                                             "send the event again later"))]
        answer.resend = True
        return []
    except IntegrityError:
        # The same eventId was stored first by another request (or earlier in this one): answer with it.
        answer.event = DeviceEvent.objects.filter(device=device, device_event_id=draft.event_id).first()
        if answer.event is None:
            raise
        answer.duplicate = True
        return []
    return list(answer.event.outbox_record.images.values())


def text_refusals(event: dict) -> list[Refused]:
    """Every field name or text value of the event that cannot be stored (afxq_portal.text: a lone surrogate,
    NUL, a control character), by field; checked before any lookup, since the database, the log and the
    answer would each fail on it."""
    return [Refused(name, reason) for name, reason in nested_problems(event)]


def count_answers(device: Device, answers: list[Answer]) -> None:
    accepted = sum(1 for a in answers if a.event is not None and not a.duplicate)
    # Deferred events are the server's limit, not the device's fault: not counted as its refusals.
    deferred = [a.index for a in answers if a.event is None and isinstance(a.errors[0], Deferred)]
    refused = [a for a in answers if a.event is None and not isinstance(a.errors[0], Deferred)]
    if deferred:
        logger.info("device %s: %d events deferred (request budget spent), from event %d", device.key_prefix,
                    len(deferred), deferred[0])
    updates: dict[str, Any] = {"accepted_count": F("accepted_count") + accepted,
                               "refused_count": F("refused_count") + len(refused)}
    if refused:
        last = refused[-1].errors[0]
        updates["last_refusal"] = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {last.field}: {last.reason}"[:300]
        for answer in refused:
            # Reasons never contain the submitted values, so no personal data reaches the log.
            logger.info("device %s refused event %d: %s", device.key_prefix, answer.index,
                        "; ".join(str(e) for e in answer.errors))
    Device.objects.filter(pk=device.pk).update(**updates)
