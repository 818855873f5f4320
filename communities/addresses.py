"""The manual's addresses.

A *standard address* is 省 + 市 + 区 + 街路巷门牌: ``四川省成都市锦江区观音桥55号``.
A *7-segment address* adds 栋 + 单元 + 层 + 号: ``四川省成都市锦江区观音桥55号2栋1单元31楼06号``
(the floor is written ``楼`` or ``层``; we write ``楼`` as the manual's main example does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

_REGION_RE = re.compile(
    r"^(?P<province>.+?(?:省|自治区|市))"
    r"(?P<city>.+?(?:市|自治州|地区|盟))?"
    r"(?P<district>.+?(?:区|县|市|旗))"
    r"(?P<street>.+)$"
)
_TAIL_RE = re.compile(
    r"^(?P<head>.+?)"
    r"(?P<building>[0-9A-Za-z\-]+)栋"
    r"(?P<unit>[0-9A-Za-z\-]+)单元"
    r"(?P<floor>-?[0-9A-Za-z]+)[楼层]"
    r"(?P<room>[0-9A-Za-z\-]+)号$"
)

# A room as people name it without the standard address, as Room.__str__ writes it ("1栋1单元3楼01号"); the
# trailing parts may be left off ("1栋1单元") to name every room they hold.
_ROOM_RE = re.compile(
    r"^(?P<building>[0-9A-Za-z\-]+)栋"
    r"(?:(?P<unit>[0-9A-Za-z\-]+)单元"
    r"(?:(?P<floor>-?[0-9A-Za-z]+)[楼层]"
    r"(?:(?P<room>[0-9A-Za-z\-]+)号?)?)?)?$"
)


class AddressError(ValueError):
    """An address that cannot be understood; the message names the part (in the user's language)."""


@dataclass(frozen=True)
class StandardAddress:
    province: str
    city: str
    district: str
    street: str

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.street}"


@dataclass(frozen=True)
class SevenSegmentAddress:
    standard: StandardAddress
    building: str
    unit: str
    floor: str
    room: str

    def __str__(self) -> str:
        return format_seven_segment(str(self.standard), self.building, self.unit, self.floor, self.room)


def normalise(text: str) -> str:
    """Full-width digits, letters and spaces to half-width; whitespace removed."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            continue
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        if not ch.isspace():
            out.append(ch)
    return "".join(out)


def format_seven_segment(standard: str, building: str, unit: str, floor: str, room: str) -> str:
    return f"{standard}{building}栋{unit}单元{floor}楼{room}号"


def parse_standard_address(text: str) -> StandardAddress:
    text = normalise(text or "")
    if not text:
        raise AddressError(_("address is empty"))
    match = _REGION_RE.match(text)
    if not match or not match.group("street"):
        raise AddressError(_("“%(address)s” is not a standard address (province, city, district, street and number)")
                           % {"address": text})
    city = match.group("city") or ""
    province = match.group("province")
    if not city and province.endswith("市"):
        # A municipality (北京市朝阳区…): the province is the city.
        city = province
    return StandardAddress(province, city, match.group("district"), match.group("street"))


def parse_seven_segment(text: str) -> SevenSegmentAddress:
    text = normalise(text or "")
    match = _TAIL_RE.match(text)
    if not match:
        raise AddressError(
            _("“%(address)s” is not a 7-segment address (…栋…单元…楼…号 after the standard address)")
            % {"address": text}
        )
    standard = parse_standard_address(match.group("head"))
    return SevenSegmentAddress(standard, match.group("building"), match.group("unit"),
                               match.group("floor"), match.group("room"))


def parse_room_label(text: str) -> dict[str, str] | None:
    """The parts of a room label ("1栋1单元3楼01号", or its beginning) given: {"building", "unit", "floor",
    "room"} as far as written; None when ``text`` is not one."""
    match = _ROOM_RE.match(normalise(text or ""))
    if not match:
        return None
    return {part: value for part, value in match.groupdict().items() if value}


def differing_part(address: StandardAddress, expected: StandardAddress) -> str | None:
    """Name the first part of ``address`` that is not the community's, or None when all match."""
    for label, got, want in (
        (_("province"), address.province, expected.province),
        (_("city"), address.city, expected.city),
        (_("district"), address.district, expected.district),
        (_("street and number"), address.street, expected.street),
    ):
        if got != want:
            return _("%(part)s “%(got)s” is not the community's “%(want)s”") % {"part": label, "got": got, "want": want}
    return None
