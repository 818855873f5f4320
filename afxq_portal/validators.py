"""Field validators shared by every input path (the city's calls, devices, Excel, admin forms).

Messages are translatable and name the reason; callers name the field.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")
# Mainland mobile numbers (1[3-9] + 9 digits), optionally +86; or a landline with area code.
_MOBILE_RE = re.compile(r"^(?:\+?86)?1[3-9][0-9]{9}$")
_LANDLINE_RE = re.compile(r"^0[1-9][0-9]{1,2}-?[0-9]{7,8}$")


def id_card_check_character(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalise_id_card(value: str) -> str:
    return (value or "").strip().upper()


def id_card_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID, or None."""
    value = normalise_id_card(value)
    if len(value) != 18:
        return str(_("must be 18 characters, got %(n)d") % {"n": len(value)})
    if not _ID_RE.match(value):
        return str(_("must be 17 digits followed by a digit or X"))
    try:
        # A real calendar date (no 30 February), not before 1900 and not in the future.
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return str(_("contains an impossible birth date"))
    if not dt.date(1900, 1, 1) <= birth <= dt.date.today():
        return str(_("contains an impossible birth date"))
    if id_card_check_character(value[:17]) != value[17]:
        return str(_("check digit is wrong (GB 11643)"))
    return None


def validate_id_card(value: str) -> None:
    problem = id_card_problem(value)
    if problem:
        raise ValidationError(_("ID card %(problem)s") % {"problem": problem}, code="invalid_id_card")


def normalise_phone(value: str) -> str:
    return re.sub(r"[\s()]", "", value or "")


def phone_key(value: str) -> str:
    """A phone as looked up (residents' phones are found by ``keyed_hash(phone_key(...))``): its digits only,
    any Unicode digit as ASCII, without a leading +86 / 86 country code, so that "138 1234 5678",
    "+86 13812345678" and "１３８１２３４５６７８" are one phone."""
    digits = "".join(str(unicodedata.digit(c)) for c in value or "" if unicodedata.digit(c, None) is not None)
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


def phone_problem(value: str) -> str | None:
    value = normalise_phone(value)
    if not value:
        return str(_("is empty"))
    if _MOBILE_RE.match(value) or _LANDLINE_RE.match(value):
        return None
    return str(_("is not a mobile number (11 digits starting with 1) or a landline with area code"))


def validate_phone(value: str) -> None:
    problem = phone_problem(value)
    if problem:
        raise ValidationError(_("Phone %(problem)s") % {"problem": problem}, code="invalid_phone")
