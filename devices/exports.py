"""The pass-records export (device pass events of a date range), offered on the Excel exports page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import IO

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from communities.models import Community
from residents.excel.exports import Export, append_row, audit_export, chunks, local_time, new_sheet, register_export
from residents.models import Resident

from .models import DeviceEvent

PASS_HEADERS = ["outId", "时间", "点位编号", "policePointId", "方向", "姓名", "userId", "人员类型", "车牌", "上传状态"]


def export_pass_records(community: Community, out: Path | IO[bytes], *, acting_user: AbstractBaseUser | None,
                        start: dt.date | None = None, end: dt.date | None = None) -> int:
    """Pass records (device pass events) of a date range, both days included, in local time."""
    end = end or timezone.localdate()
    start = start or end - dt.timedelta(days=6)
    since = timezone.make_aware(dt.datetime.combine(start, dt.time()))
    until = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
    events = (DeviceEvent.objects.filter(community=community, kind=DeviceEvent.Kind.PASS,
                                         occurred_at__gte=since, occurred_at__lt=until)
              .select_related("point", "outbox_record").order_by("occurred_at", "pk"))
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "通行记录", PASS_HEADERS, [10, 17, 20, 22, 6, 12, 38, 12, 12, 10])
    rows = 0
    people: dict[int, Resident] = {}
    for chunk in chunks(events.iterator(chunk_size=2000), 2000):
        wanted = {e.resident_id for e in chunk if e.resident_id and e.resident_id not in people}
        people.update(Resident.objects.filter(community=community, pk__in=wanted).only(
            "name", "person_type", "city_owner_id", "init_uuid").in_bulk())
        for event in chunk:
            person = people.get(event.resident_id)
            append_row(sheet, [
                event.out_id, local_time(event.occurred_at), event.point.number if event.point else "",
                event.point.police_point_id if event.point else "", event.get_direction_display(),
                person.name if person else "", person.user_id if person else "",
                person.pass_record_type if person else "", event.plate,
                event.outbox_record.get_status_display() if event.outbox_record else ""])
            rows += 1
    workbook.save(out)
    audit_export(community, acting_user, f"pass {start:%Y%m%d}-{end:%Y%m%d}", rows, True)  # fits ExportLog.kind
    return rows


def register() -> None:
    register_export("pass_records", Export(
        export_pass_records, gettext_lazy("pass records (last 7 days)"), dated=True))
