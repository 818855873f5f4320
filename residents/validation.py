"""The one set of rules for a person entering the system, whatever the door: the city's
apply-access call, an Excel row, an admin form. Callers map their own field names to ours and
put their own label in front of each problem's message.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.text import ascii_digits, line_problem
from afxq_portal.validators import id_card_problem, normalise_id_card, normalise_phone, phone_problem
from communities.addresses import (
    AddressError,
    SevenSegmentAddress,
    StandardAddress,
    differing_part,
    normalise,
    parse_seven_segment,
    parse_standard_address,
)
from communities.models import Community

from .models import TYPES_WITH_ROOM, PersonType, Sex, Source

_SEX_LABELS = {"女": Sex.FEMALE, "男": Sex.MALE, "未知": Sex.UNKNOWN}
_TYPE_LABELS = {"住户": "01", "业主": "01", "租户": "02", "物业人员": "03", "服务人员": "04", "来访人员": "05", "访客": "05"}
NAME_MAX_LENGTH = 50


# Validity dates are the community's days: Asia/Shanghai whatever the server's or the request's zone.
LOCAL_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
# Whole seconds: the admin's time input shows and posts seconds, so a saved end survives being saved again.
_END_OF_DAY = dt.time(23, 59, 59)


def validity_end(value: dt.date | dt.datetime | None) -> dt.datetime | None:
    """The end of validity as a moment. A day (a date, or a time of exactly 00:00, which is what a date-formatted
    Excel cell or a date typed without a time gives) means the END of that day in Asia/Shanghai: "until
    2027-06-30" includes the 30th. A moment with any other time is kept. The one place this is decided, for
    the Excel import and the admin form (apply-access sends instants, epoch milliseconds, and keeps them)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, _END_OF_DAY, tzinfo=LOCAL_ZONE)
    local = value.astimezone(LOCAL_ZONE) if timezone.is_aware(value) else value.replace(tzinfo=LOCAL_ZONE)
    if local.time() == dt.time():
        return dt.datetime.combine(local.date(), _END_OF_DAY, tzinfo=LOCAL_ZONE)
    return value if timezone.is_aware(value) else local


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


@dataclass
class CleanPerson:
    name: str
    id_card: str
    phone: str
    sex: str
    person_type: str
    address: str
    seven_segment: SevenSegmentAddress | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None


def clean_sex(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = normalise(str(value)) if value is not None else ""
    if text in _SEX_LABELS:
        return _SEX_LABELS[text]
    return text if text in Sex.values else None


def clean_person_type(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = normalise(str(value))
    text = _TYPE_LABELS.get(text, text)
    if ascii_digits(text) and len(text) == 1:
        text = "0" + text
    return text if text in PersonType.values else None


def check_address(community: Community, person_type: str, address: str) -> tuple[SevenSegmentAddress | None, str | None]:
    """Parse the address the way the type requires and check that it lies in the community."""
    try:
        if person_type in TYPES_WITH_ROOM:
            parsed = parse_seven_segment(address)
            standard = parsed.standard
        else:
            parsed, standard = None, _standard_part(address)
    except AddressError as exc:
        return None, str(exc)
    problem = differing_part(standard, community.parsed_address)
    if problem:
        return None, _("is outside the community: %(problem)s") % {"problem": problem}
    return parsed, None


def _standard_part(address: str) -> StandardAddress:
    """The standard address of a person without a room (types 03, 04). A 7-segment address sent for
    them is accepted for its standard part: only the community matters, and refusing a real staff
    member over an extra room would lose them."""
    try:
        return parse_seven_segment(address).standard
    except AddressError:
        return parse_standard_address(address)


def check_person(community: Community, raw: Mapping[str, Any]) -> tuple[CleanPerson | None, list[FieldProblem]]:
    """Check one person. ``raw`` has our field names; valid_from/valid_until are datetimes or None."""
    problems: list[FieldProblem] = []

    name = normalise(str(raw.get("name") or "")) if raw.get("name") is not None else ""
    if not name:
        problems.append(FieldProblem("name", _("is required")))
    elif line_problem(name):
        problems.append(FieldProblem("name", line_problem(name)))
    elif len(name) > NAME_MAX_LENGTH:
        problems.append(FieldProblem("name", _("is longer than %(n)d characters") % {"n": NAME_MAX_LENGTH}))

    id_card = normalise_id_card(normalise(str(raw.get("id_card") or "")))
    problem = id_card_problem(id_card) if id_card else _("is required")
    if problem:
        problems.append(FieldProblem("id_card", problem))

    phone = normalise_phone(normalise(str(raw.get("phone") or "")))
    problem = phone_problem(phone)
    if problem:
        problems.append(FieldProblem("phone", problem))

    sex = clean_sex(raw.get("sex"))
    if sex is None:
        problems.append(FieldProblem("sex", _("must be 0 (female), 1 (male) or 2 (unknown)")))

    person_type = clean_person_type(raw.get("person_type"))
    if person_type is None:
        problems.append(FieldProblem("person_type", _("must be one of 01 to 05")))

    address = normalise(str(raw.get("address") or ""))
    seven_segment = None
    if not address:
        problems.append(FieldProblem("address", _("is required")))
    elif line_problem(address):
        problems.append(FieldProblem("address", line_problem(address)))
    elif person_type is not None:
        seven_segment, problem = check_address(community, person_type, address)
        if problem:
            problems.append(FieldProblem("address", problem))

    valid_from, valid_until = raw.get("valid_from"), raw.get("valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        problems.append(FieldProblem("valid_until", _("is before the start of validity")))

    if problems:
        return None, problems
    return CleanPerson(name, id_card, phone, sex, person_type, address, seven_segment,
                       valid_from, valid_until), []


# --- A person the city registered (apply-access): the person's rules above, plus the city's own ---

IDENTIFIER_MAX_LENGTH = 64
PHOTO_URL_MAX_LENGTH = 500


@dataclass
class CleanApplication:
    person: CleanPerson
    owner_id: str
    ywlsh: str
    source: str
    photo_url: str


def clean_source(value: Any) -> str | None:
    """`01` phone QR self-registration or `02` entered in the AI-layer admin (a bare 1/2 is accepted)."""
    if isinstance(value, bool) or value is None:
        return None
    text = normalise(str(value))
    if text in ("1", "2"):
        text = "0" + text
    return text if text in (Source.QR, Source.AI_ADMIN) else None


def photo_url_problem(url: str) -> str | None:
    """Only the shape of the URL: whether its host may be fetched is decided when it is fetched
    (residents.photos), since DNS can change between now and then."""
    if not url:
        return _("is required")
    if line_problem(url):
        return line_problem(url)
    if len(url) > PHOTO_URL_MAX_LENGTH:
        return _("is longer than %(n)d characters") % {"n": PHOTO_URL_MAX_LENGTH}
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return _("must be an http:// or https:// URL")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        host = None
    if not host:
        return _("must be an http:// or https:// URL")
    if parts.username or parts.password:
        return _("must not contain a user name or password")
    return None


def identifier_problem(value: str) -> str | None:
    if not value:
        return _("is required")
    if line_problem(value):
        return line_problem(value)
    if len(value) > IDENTIFIER_MAX_LENGTH:
        return _("is longer than %(n)d characters") % {"n": IDENTIFIER_MAX_LENGTH}
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return _("must not contain spaces or control characters")
    return None


def check_application(community: Community, raw: Mapping[str, Any]) -> tuple[CleanApplication | None,
                                                                              list[FieldProblem]]:
    """Check one person the city registered. ``raw`` has our names: check_person's fields plus
    owner_id, ywlsh, source and photo_url (strings)."""
    person, problems = check_person(community, raw)
    owner_id = str(raw.get("owner_id") or "").strip()
    ywlsh = str(raw.get("ywlsh") or "").strip()
    for field, value in (("owner_id", owner_id), ("ywlsh", ywlsh)):
        problem = identifier_problem(value)
        if problem:
            problems.append(FieldProblem(field, problem))
    source = clean_source(raw.get("source"))
    if raw.get("source") in (None, ""):
        problems.append(FieldProblem("source", _("is required")))
    elif source is None:
        problems.append(FieldProblem("source", _("must be 01 (phone QR registration) or 02 (AI-layer admin)")))
    photo_url = str(raw.get("photo_url") or "").strip()
    problem = photo_url_problem(photo_url)
    if problem:
        problems.append(FieldProblem("photo_url", problem))
    if problems:
        return None, problems
    return CleanApplication(person, owner_id, ywlsh, source, photo_url), []
