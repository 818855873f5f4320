"""The three kinds of event (pass records, face and vehicle snapshots): checked, their images made, and
turned into the city's record (``uploads.contract``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from communities.models import MonitoringPoint
from uploads import contract

from .. import images
from ..models import Device, DeviceEvent
from .answers import Budget, Refused
from .fields import (
    CAR_FIELDS,
    FACE_FIELDS,
    PASS_FIELDS,
    Checker,
    clean_direction,
    clean_id_number,
    clean_pass_type,
    clean_person_name,
    clean_plate,
    clean_plate_type,
    clean_time,
    find_resident,
    image_bytes,
    image_list,
    processed,
    unknown_fields,
)


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
        small, big = images.pass_record_images(capture, crop, hint=point.pk)
    except images.ImageRefused as exc:
        return [Refused("faceImage" if exc.source == "face_crop" else "image", str(exc))]
    record = contract.pass_record(
        community_id=community.city_id, opened_at=moment, person_type=resident.person_type, user_id=resident.user_id,
        police_point_id=point.police_point_id, direction=direction, small_image=small.data, big_image=big.data)
    return Draft(DeviceEvent.Kind.PASS, moment, record, resident_id=resident.pk, direction=direction)


def snapshot_images(check: Checker, event: dict, budget: Budget, point_id: int) -> list[bytes]:
    values = check(image_list, event.get("images")) or []
    raw = {number: check(image_bytes, value, f"images[{number - 1}]") for number, value in enumerate(values, start=1)}
    raw = {number: data for number, data in raw.items() if data is not None}
    if raw:
        budget.admit(sum(images.decoded_pixels(data, images.SNAPSHOT) for data in raw.values()))
    out: list[bytes] = []
    for number, data in raw.items():
        made = check(processed, data, f"images[{number - 1}]", images.SNAPSHOT, point_id)
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
    photos = snapshot_images(check, event, budget, point.pk)
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
    photos = snapshot_images(check, event, budget, point.pk)
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
