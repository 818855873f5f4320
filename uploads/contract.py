"""The city platform's contract for what we send it, in one place: its paths, field names, formats and code
tables (manual V3.1; digest: docs/api/city-uploads.md).

Producers hand domain values to the builders here (``pass_record``, ``face_snapshot``, ``car_snapshot``,
``admission_result``) and enqueue the ``Record`` they get; the outbox stores its fields as they are. When a
batch is sent, ``city_record`` turns a stored row into the city's JSON: the interface's constants (``way``,
``source``), the fallbacks (``outId``, ``communityId``) and the code tables in the city's form (the pass-record
``type`` from our person type; ``licensePlateType`` as CITY_PLATE_TYPE_FORMAT says at send time). Rows stored by
earlier versions carry the constants and the pass-record ``type`` already: ``city_record`` sends them the same.

Interface 1 (apply-access, the city calling us) is read in residents.contract against the rules for a person;
the code table it shares with the uploads (the person types and their pass-record types) is here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# --- paths (under {CITY_PLATFORM_BASE_URL}/api/platform/) --------------------------------------------------

PASS_RECORDS = "person-inout-info"  # interface 3
FACE_SNAPSHOTS = "image/people"  # interface 4
CAR_SNAPSHOTS = "image/car"  # interface 5
# Not the city's: the admission result (人员登记回调) goes to the community's callback URL; the manual does not
# specify it, its body is ours (docs/api/apply-access.md).
REGISTRATION_CALLBACK = "registration-callback"

# --- formats ---------------------------------------------------------------------------------------------

# Every time the city reads is Asia/Shanghai wall-clock time, yyyy-MM-dd HH:mm:ss (24-hour).
SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# A snapshot carries photoBase1 (required) to photoBase3.
MAX_SNAPSHOT_PHOTOS = 3
# Fields that are personal data: the outbox keeps them encrypted at rest (uploads.models.OutboxRecord.sealed).
PERSONAL_DATA_FIELDS = frozenset({"idNumber", "personName"})

WAY = "FACE"  # pass records: the only way the contract names
SOURCE = "THIRDPARTY_CLIENT"  # pass records: who sends them
PASS_TYPE = {"in": 0, "out": 1}  # snapshots' passType, by direction (pass records say inout: "in" / "out")


def city_time(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(CITY_TIME_FORMAT)


def city_image(data: bytes) -> str:
    """Plain base64: the city refuses a ``data:image/jpg;base64,`` prefix."""
    return city_image_bytes(data).decode("ascii")


def city_image_bytes(data: bytes) -> bytes:
    """``city_image`` as ASCII bytes, for a body built as bytes."""
    return base64.b64encode(data)


# --- code tables -----------------------------------------------------------------------------------------

class PersonType(models.TextChoices):
    """apply-access ``type`` (interface 1), the type every person of ours has."""

    OWNER = "01", _("01 owner (住户)")
    TENANT = "02", _("02 tenant (租户)")
    PROPERTY_STAFF = "03", _("03 property staff (物业人员)")
    SERVICE_STAFF = "04", _("04 service staff (服务人员)")
    VISITOR = "05", _("05 visitor (来访人员)")


# The pass record's ``type`` (interface 3) of each person type: the contract's mapping between the vocabularies.
PASS_RECORD_TYPE = {
    PersonType.OWNER: "USER",
    PersonType.TENANT: "USER",
    PersonType.PROPERTY_STAFF: "PROPERTY_STAFF",
    PersonType.SERVICE_STAFF: "THE_WAITER",
    PersonType.VISITOR: "VISITOR",
}


def pass_record_type(value: Any) -> str:
    """The pass record's ``type`` of a person type ("04" -> THE_WAITER). A value already in the pass-record
    vocabulary (rows stored by earlier versions) is the city's already. ValueError for anything else."""
    text = str(value)
    if text in PersonType.values:
        return PASS_RECORD_TYPE[PersonType(text)]
    if text in PASS_RECORD_TYPE.values():
        return text
    raise ValueError(f"type {value!r} is neither a person type (01-05) nor a pass-record type")


class PlateType(models.TextChoices):
    """Licence plate types (附录1 车型类型对应表)."""

    LARGE = "01", "01 大型汽车"
    SMALL = "02", "02 小型汽车"
    EMBASSY = "03", "03 使馆汽车"
    CONSULATE = "04", "04 领馆汽车"
    OVERSEAS = "05", "05 境外汽车"
    FOREIGN = "06", "06 外籍汽车"
    MOTORCYCLE = "07", "07 普通摩托车"
    MOPED = "08", "08 轻便摩托车"
    EMBASSY_MOTORCYCLE = "09", "09 使馆摩托车"
    CONSULATE_MOTORCYCLE = "10", "10 领馆摩托车"
    OVERSEAS_MOTORCYCLE = "11", "11 境外摩托车"
    FOREIGN_MOTORCYCLE = "12", "12 外籍摩托车"
    LOW_SPEED = "13", "13 低速车"
    TRACTOR = "14", "14 拖拉机"
    TRAILER = "15", "15 挂车"
    COACH = "16", "16 教练汽车"
    COACH_MOTORCYCLE = "17", "17 教练摩托车"
    TEST = "18", "18 试验汽车"
    TEST_MOTORCYCLE = "19", "19 试验摩托车"
    TEMPORARY_ENTRY = "20", "20 临时入境汽车"
    TEMPORARY_ENTRY_MOTORCYCLE = "21", "21 临时入境摩托车"
    TEMPORARY = "22", "22 临时行驶车"
    POLICE = "23", "23 警用汽车"
    POLICE_MOTORCYCLE = "24", "24 警用摩托"
    FORMER_FARM_MACHINERY = "25", "25 原农机号牌"
    HONG_KONG = "26", "26 香港入出境车"
    MACAU = "27", "27 澳门入出境车"
    LARGE_NEW_ENERGY = "51", "51 大型新能源汽车"
    SMALL_NEW_ENERGY = "52", "52 小型新能源汽车"


def plate_type_for_city(code: Any) -> int | str:
    """The table's code ("02", or 2 as some rows hold it) in the form CITY_PLATE_TYPE_FORMAT says: the manual
    does not say which the city wants (its example sends 2)."""
    number = int(str(code))
    return number if settings.CITY_PLATE_TYPE_FORMAT == "number" else f"{number:02d}"


# --- records ---------------------------------------------------------------------------------------------

@dataclass
class Record:
    """One record for the city as the outbox stores it: ``endpoint``, ``fields`` (the contract's names) and
    ``images`` (JPEG bytes within the city's limits, by field name; base64-encoded at send time)."""

    endpoint: str
    fields: dict[str, Any]
    images: dict[str, bytes] = field(default_factory=dict)


def pass_record(*, community_id: str, opened_at: datetime, person_type: str, user_id: str,
                police_point_id: str, direction: str, small_image: bytes, big_image: bytes,
                out_id: str | None = None) -> Record:
    """Interface 3, a face panel's pass. ``out_id``: our id of the pass (the row id when None, at send time).
    The person type is kept as ours and sent as the pass record's type."""
    if direction not in ("in", "out"):
        raise ValueError(f"direction {direction!r} is neither in nor out")
    fields = {"openDate": city_time(opened_at), "communityId": community_id, "type": str(PersonType(person_type)),
              "userId": user_id, "policePointId": police_point_id, "inout": direction}
    return Record(PASS_RECORDS, with_out_id(fields, out_id) if out_id else fields,
                  {"imageBase64": small_image, "bigImageBase64": big_image})


def with_out_id(fields: Mapping[str, Any], out_id: str) -> dict[str, Any]:
    """A pass record's fields with our id of it (known to a producer only once the pass is stored)."""
    return {"outId": out_id, **fields}


def _photos(photos: list[bytes]) -> dict[str, bytes]:
    if not 1 <= len(photos) <= MAX_SNAPSHOT_PHOTOS:
        raise ValueError(f"a snapshot has 1 to {MAX_SNAPSHOT_PHOTOS} photos, not {len(photos)}")
    return {f"photoBase{number}": data for number, data in enumerate(photos, start=1)}


def face_snapshot(*, community_id: str, passed_at: datetime, direction: str, police_point_id: str,
                  photos: list[bytes], id_number: str | None = None, person_name: str | None = None) -> Record:
    """Interface 4, a snapshot camera's face."""
    fields: dict[str, Any] = {"passType": PASS_TYPE[direction], "passDate": city_time(passed_at),
                              "policePointId": police_point_id, "communityId": community_id}
    if id_number:
        fields["idNumber"] = id_number
    if person_name:
        fields["personName"] = person_name
    return Record(FACE_SNAPSHOTS, fields, _photos(photos))


def car_snapshot(*, community_id: str, passed_at: datetime, direction: str, police_point_id: str,
                 plate: str, plate_type: str, photos: list[bytes]) -> Record:
    """Interface 5, a snapshot camera's vehicle. ``plate_type``: a code of PlateType, kept as the table's code
    and sent in the form CITY_PLATE_TYPE_FORMAT says."""
    fields = {"licensePlate": plate, "licensePlateType": str(PlateType(plate_type)), "passDate": city_time(passed_at),
              "passType": PASS_TYPE[direction], "policePointId": police_point_id, "communityId": community_id}
    return Record(CAR_SNAPSHOTS, fields, _photos(photos))


def admission_result(*, community_id: str, ywlsh: str, owner_id: str, result: str, reason: str,
                     decided_at: datetime) -> Record:
    """The admission result (人员登记回调) of an application, one JSON object per request."""
    return Record(REGISTRATION_CALLBACK, {"ywlsh": ywlsh, "ownerId": owner_id, "communityId": community_id,
                                          "result": result, "reason": reason, "time": city_time(decided_at)})


def city_record(endpoint: str, fields: Mapping[str, Any], *, community_id: str, record_id: int | None) -> dict:
    """A stored record's fields (images aside) as the city wants them. ``record_id``, the outbox row's id, is
    the ``outId`` of a pass record whose producer gave none: it makes a resend traceable."""
    city = dict(fields)
    city.setdefault("communityId", community_id)
    if endpoint == PASS_RECORDS:
        city.setdefault("outId", str(record_id))
        city["way"], city["source"] = WAY, SOURCE
        city["type"] = pass_record_type(city.get("type"))
    elif endpoint == CAR_SNAPSHOTS and city.get("licensePlateType") not in (None, ""):
        city["licensePlateType"] = plate_type_for_city(city["licensePlateType"])
    return city
