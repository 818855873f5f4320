"""Exports to .xlsx (write-only mode: streamed, flat memory): the initialisation package, residents,
points, dead-letter outbox rows. Every text cell is neutralised against formula injection; ID numbers
and phones are masked unless the user may see them in clear; every export is logged."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from afxq_portal.pii import mask_id_card, mask_phone, mask_text
from communities.models import Community, MonitoringPoint
from security.services import record_export
from uploads.models import OutboxRecord

from ..models import Resident
from .columns import COLUMNS, PERSON_TYPE_WORD, SEX_WORD
from .models import ExportLog
from .safety import neutralise

log = logging.getLogger("afxq.audit")
T = TypeVar("T")
StrOrPromise = str | Promise
PACKAGE_SHEET = "人员信息"
_TIME_FORMAT = "%Y-%m-%d %H:%M"


PACKAGE_PERMISSION = "residents.export_init_package"


def may_export_package(user: AbstractBaseUser | None) -> bool:
    # None: the shell or a command, run by whoever operates the server.
    return user is None or user.has_perm(PACKAGE_PERMISSION)


def may_see_pii(user: AbstractBaseUser | None) -> bool:
    return user is None or user.has_perm("residents.view_pii")


def audit_export(community: Community, user: AbstractBaseUser | None, kind: str, rows: int, in_clear: bool) -> None:
    ExportLog.objects.create(community=community, user=user, kind=kind, rows=rows, in_clear=in_clear)
    # The platform-wide audit log (security app) too: superusers see every export of personal data there.
    record_export(community=community, user=user, kind=kind, rows=rows, in_clear=in_clear)
    log.info("export %s of community %s by %s: %d rows, in clear: %s", kind, community.city_id,
             getattr(user, "username", "shell"), rows, in_clear)


def new_sheet(workbook: Workbook, title: str, headers: list[str], widths: list[int]) -> WriteOnlyWorksheet:
    sheet = workbook.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = Font(bold=True)
        bold.append(cell)
    sheet.append(bold)
    return sheet


def append_row(sheet: WriteOnlyWorksheet, values: Iterable[object]) -> None:
    sheet.append([neutralise(v) for v in values])


def local_time(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime(_TIME_FORMAT) if moment else ""


def package_row(resident: Resident, *, in_clear: bool) -> dict[str, str]:
    """A resident in our column names: THE mapping to the initialisation layout (see columns.COLUMNS)."""
    room = resident.room
    return {
        "name": resident.name,
        "id_card": resident.id_card if in_clear else mask_id_card(resident.id_card),
        "phone": resident.phone if in_clear else mask_phone(resident.phone),
        "sex": SEX_WORD.get(resident.sex, resident.sex),
        "person_type": PERSON_TYPE_WORD.get(resident.person_type, resident.person_type),
        "building": room.building.number if room else "",
        "unit": room.unit if room else "",
        "floor": room.floor if room else "",
        "room": room.number if room else "",
        "address": resident.address,
        "valid_from": local_time(resident.valid_from),
        "valid_until": local_time(resident.valid_until),
        "uuid": str(resident.init_uuid) if resident.init_uuid else "",
    }


def export_package(community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None,
                   statuses: tuple[str, ...] = (Resident.Status.ACTIVE,)) -> int:
    """The initialisation package: the community's people that the city does not know yet (no city
    ownerId), each with the UUID used as their userId. People without one (entered by hand) get one
    now, kept from then on. Only for users with ``residents.export_init_package``."""
    if not may_export_package(acting_user):
        raise PermissionDenied(f"{PACKAGE_PERMISSION} is required to export the initialisation package")
    in_clear = may_see_pii(acting_user)
    people = Resident.objects.filter(community=community, status__in=statuses, city_owner_id__isnull=True)
    for pk in people.filter(init_uuid__isnull=True).values_list("pk", flat=True):
        # updated_at moves too: the userId changed, so face panels polling the face list must see it.
        Resident.objects.filter(pk=pk, init_uuid__isnull=True).update(
            init_uuid=Resident.new_init_uuid(), updated_at=timezone.now())
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, PACKAGE_SHEET, [c.header for c in COLUMNS], [c.width for c in COLUMNS])
    rows = 0
    for resident in people.select_related("room__building").order_by("pk").iterator(chunk_size=2000):
        values = package_row(resident, in_clear=in_clear)
        append_row(sheet, [values[c.field] for c in COLUMNS])
        rows += 1
    workbook.save(out)
    audit_export(community, acting_user, "package", rows, in_clear)
    return rows


RESIDENT_HEADERS = ["姓名", "身份证号", "手机号", "性别", "人员类型", "房屋", "地址", "状态", "来源", "userId",
                    "有效期开始", "有效期结束", "登记时间"]


def export_residents(community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None) -> int:
    in_clear = may_see_pii(acting_user)
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "居民", RESIDENT_HEADERS, [12, 22, 16, 6, 12, 16, 40, 10, 14, 38, 17, 17, 17])
    rows = 0
    queryset = (Resident.objects.filter(community=community).select_related("room__building").order_by("pk"))
    for r in queryset.iterator(chunk_size=2000):
        append_row(sheet, [
            r.name, r.id_card if in_clear else r.masked_id_card, r.phone if in_clear else r.masked_phone,
            SEX_WORD.get(r.sex, r.sex), PERSON_TYPE_WORD.get(r.person_type, r.person_type),
            str(r.room) if r.room else "", r.address, r.get_status_display(), r.get_source_display(), r.user_id,
            local_time(r.valid_from), local_time(r.valid_until), local_time(r.created_at)])
        rows += 1
    workbook.save(out)
    audit_export(community, acting_user, "residents", rows, in_clear)
    return rows


POINT_HEADERS = ["policePointId", "点位编号", "省厅点位名称", "一致", "类型", "默认方向"]


def export_points(community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None) -> int:
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "点位", POINT_HEADERS, [24, 24, 24, 8, 16, 10])
    rows = 0
    for point in MonitoringPoint.objects.filter(community=community).order_by("police_point_id"):
        append_row(sheet, [point.police_point_id, point.number, point.provincial_name,
                        "是" if point.name_matches else "否", point.get_kind_display(),
                        point.get_default_direction_display()])
        rows += 1
    workbook.save(out)
    return rows


DEAD_HEADERS = ["编号", "接口", "创建时间", "尝试次数", "最后错误", "字段"]


def export_dead_letters(community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None) -> int:
    in_clear = may_see_pii(acting_user)
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "发送失败", DEAD_HEADERS, [10, 24, 17, 8, 60, 80])
    rows = 0
    queryset = OutboxRecord.objects.filter(community=community, status=OutboxRecord.Status.DEAD).order_by("pk")
    for record in queryset.iterator(chunk_size=2000):
        fields = json.dumps(record.all_fields, ensure_ascii=False)
        append_row(sheet, [record.pk, record.endpoint, local_time(record.created_at), record.attempts,
                        mask_text(record.last_error), fields if in_clear else mask_text(fields)])
        rows += 1
    workbook.save(out)
    audit_export(community, acting_user, "dead_letters", rows, in_clear)
    return rows


def chunks(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ExportFunction(Protocol):
    def __call__(self, community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None,
                 **dates: dt.date | None) -> int: ...


@dataclass(frozen=True)
class Export:
    function: ExportFunction
    label: StrOrPromise
    # A dated export takes ``start`` and ``end`` (days, both included) from the page's from/to fields.
    dated: bool = False
    # The permission ("app.codename") a user needs beyond managing the community; empty: none.
    permission: str = ""

    def allowed(self, user: AbstractBaseUser | None) -> bool:
        return not self.permission or user is None or user.has_perm(self.permission)


# The exports page offers these, in this order. Apps above this one add theirs with ``register_export``
# (devices: the pass records), so that this app needs no import of them.
EXPORTS: dict[str, Export] = {
    "package": Export(export_package, gettext_lazy("initialisation package"), permission=PACKAGE_PERMISSION),
    "residents": Export(export_residents, gettext_lazy("residents")),
    # Its own context: the community list's column "points" is a count (点位数), this is the list itself.
    "points": Export(export_points, pgettext_lazy("export", "points")),
    "dead_letters": Export(export_dead_letters, gettext_lazy("outbox rows that could not be delivered")),
}


def register_export(kind: str, export: Export) -> None:
    EXPORTS[kind] = export


_PASS_KIND = re.compile(r"^pass (\d{4})(\d{2})(\d{2})-(\d{4})(\d{2})(\d{2})$")


def export_kind_label(kind: str) -> str:
    """An export's name for people, from the kind the logs store ("package", "pass 20260101-20260107");
    "" for a kind that is not ours."""
    if kind in EXPORTS:
        return str(EXPORTS[kind].label)
    if (match := _PASS_KIND.match(kind)):
        start, end = "-".join(match.groups()[:3]), "-".join(match.groups()[3:])
        return gettext("pass records %(start)s to %(end)s") % {"start": start, "end": end}
    return ""
