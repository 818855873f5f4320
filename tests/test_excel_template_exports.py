"""The template, the exports (package round trip, masking, formula injection, audit), the point-name
import and the two shell commands."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from communities.models import MonitoringPoint
from residents.excel.exports import export_dead_letters, export_package, export_points, export_residents
from residents.excel.importer import run_import
from residents.excel.points import import_point_names
from residents.excel.template import build_template
from residents.models import ExportLog, Resident
from tests.excel_books import HEADER, Sheet, write_xlsx
from tests.factories import PointFactory, ResidentFactory, make_id_card
from uploads.models import OutboxRecord

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def initialised(community, rooms, n: int) -> list[Resident]:
    """People of a retrofit community: no city ownerId, a UUID each."""
    return [ResidentFactory(community=community, room=rooms[i % len(rooms)], city_owner_id=None,
                            init_uuid=Resident.new_init_uuid(), id_card=make_id_card(200 + i),
                            person_type="02" if i % 2 else "01", sex="0" if i % 2 else "1") for i in range(n)]


def read(data: bytes | Path) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_it_builds_a_template_excel_keeps_ids_in(community_a, rooms, tmp_path: Path) -> None:
    out = tmp_path / "template.xlsx"
    build_template(community_a, out)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["人员信息", "填写说明", "选项"] and book["选项"].sheet_state == "hidden"
    sheet = book["人员信息"]
    assert [c.value for c in sheet[1]] == HEADER
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 22
    assert sheet["B2"].number_format == "@" and sheet["B5000"].number_format == "@" and sheet["C3"].number_format == "@"
    assert sheet["A1"].comment is not None and "必填" in sheet["A1"].comment.text
    validations = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert validations["E2:E5001"] == "'选项'!$A$2:$A$6"  # person type
    assert validations["D2:D5001"] == "'选项'!$B$2:$B$4"  # sex
    assert validations["F2:F5001"] == "'选项'!$C$2:$C$2"  # this community's buildings
    assert [book["选项"].cell(row=r, column=6).value for r in range(2, 5)] == ["01", "02", "03"]  # room numbers
    examples = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]]
    assert len(examples) == 2 and all("示例" in row[0] for row in examples)
    assert "锦江花园" in book["填写说明"]["B1"].value

    # The untouched template imports nothing: the example rows are refused as examples.
    summary = run_import(out, community_a, commit=True)
    assert (summary.rows, summary.written) == (2, 0)
    assert all("example row" in p["message"] for p in summary.problems)


def test_it_exports_a_package_that_reimports_to_the_same_people(community_a, rooms, root, tmp_path: Path) -> None:
    people = initialised(community_a, rooms, 6)
    registered_by_city = ResidentFactory(community=community_a, room=rooms[0])  # has an ownerId: not in the package
    by_hand = ResidentFactory(community=community_a, room=rooms[1], city_owner_id=None, init_uuid=None)
    package = tmp_path / "package.xlsx"
    assert export_package(community_a, package, acting_user=root) == 7
    by_hand.refresh_from_db()
    assert by_hand.init_uuid is not None  # given a UUID once, kept from then on

    def snapshot() -> set[tuple]:
        return {(r.name, r.id_card, r.phone, r.sex, r.person_type, r.room_id, r.init_uuid)
                for r in Resident.objects.filter(community=community_a, city_owner_id__isnull=True)}

    before = snapshot()
    assert len(before) == 7
    # Re-importing into the same community: every row is already registered.
    again = run_import(package, community_a, commit=False)
    assert again.refused == 7 and "already registered" in again.problems[0]["message"]
    # After the people are gone (a fresh system), the package brings back the same people, same UUIDs.
    Resident.objects.filter(pk__in=[p.pk for p in [*people, by_hand]]).delete()
    summary = run_import(package, community_a, commit=True)
    assert (summary.rows, summary.written) == (7, 7), summary.problems
    assert snapshot() == before
    assert Resident.objects.filter(pk=registered_by_city.pk).exists()


def test_it_masks_personal_data_unless_the_user_may_see_it(community_a, rooms, alice, root) -> None:
    resident = initialised(community_a, rooms, 1)[0]
    out = io.BytesIO()
    export_residents(community_a, out, acting_user=alice)
    row = read(out.getvalue())[1]
    assert row[1] == resident.masked_id_card and row[2] == resident.masked_phone and resident.id_card not in str(row)

    alice.user_permissions.add(Permission.objects.get(codename="view_pii"))
    alice = type(alice).objects.get(pk=alice.pk)  # permissions are cached per user object
    out = io.BytesIO()
    export_residents(community_a, out, acting_user=alice)
    assert read(out.getvalue())[1][1] == resident.id_card

    package = io.BytesIO()
    export_package(community_a, package, acting_user=root)
    assert read(package.getvalue())[1][1] == resident.id_card
    log = list(ExportLog.objects.order_by("pk").values_list("user__username", "kind", "rows", "in_clear"))
    assert log == [("alice", "residents", 1, False), ("alice", "residents", 1, True), ("root", "package", 1, True)]


def test_it_neutralises_cells_that_would_run_as_formulas(community_a, rooms, root) -> None:
    ResidentFactory(community=community_a, room=rooms[0], name="=HYPERLINK(\"http://x\")", address="+cmd|' /C calc'!A0")
    ResidentFactory(community=community_a, room=rooms[1], name="@SUM(1)", address="-1+1")
    out = io.BytesIO()
    export_residents(community_a, out, acting_user=root)
    rows = read(out.getvalue())
    names = {row[0] for row in rows[1:]}
    assert names == {"'=HYPERLINK(\"http://x\")", "'@SUM(1)"}
    assert {row[6] for row in rows[1:]} == {"'+cmd|' /C calc'!A0", "'-1+1"}
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    assert all(cell.data_type != "f" for row in book.worksheets[0].iter_rows() for cell in row)


def test_it_exports_points_and_dead_letters_masked(community_a, alice) -> None:
    PointFactory(community=community_a, police_point_id="PP-1", number="东门", provincial_name="东门")
    PointFactory(community=community_a, police_point_id="PP-2", number="西门", provincial_name="西门 ")
    id_card = make_id_card(9)
    OutboxRecord.objects.create(community=community_a, endpoint="person-inout-info", status="dead",
                                fields={"userId": "u1", "idCard": id_card}, last_error=f"refused {id_card}")
    OutboxRecord.objects.create(community=community_a, endpoint="person-inout-info", status="sent", fields={})
    out = io.BytesIO()
    assert export_points(community_a, out, acting_user=alice) == 2
    assert [row[3] for row in read(out.getvalue())[1:]] == ["是", "否"]
    out = io.BytesIO()
    assert export_dead_letters(community_a, out, acting_user=alice) == 1
    row = read(out.getvalue())[1]
    assert id_card not in str(row) and "5101" in row[5] and row[1] == "person-inout-info"


def test_it_imports_provincial_point_names_and_reports_mismatches(community_a, tmp_path: Path) -> None:
    PointFactory(community=community_a, police_point_id="PP-1", number="东门人脸", provincial_name="")
    PointFactory(community=community_a, police_point_id="PP-2", number="西门人脸", provincial_name="")
    book = write_xlsx(tmp_path / "points.xlsx", [Sheet("点位", [
        ["点位清单"], ["policePointId", "省厅点位名称（与点位编号一致）"], ["PP-1", "东门人脸"], ["PP-2", "西门 人脸"],
        ["PP-9", "别的小区"], ["PP-3", None], [None, None]], merges=("A1:B1",))], strings="inline")
    result, problems = import_point_names(community_a, book)
    assert {p.police_point_id for p in result.updated} == {"PP-1", "PP-2"}
    assert [p.police_point_id for p in result.mismatched] == ["PP-2"]
    assert result.unknown == ["PP-9"] and problems == ["row 6: the point id and the name are both required"]
    assert MonitoringPoint.objects.get(police_point_id="PP-2").provincial_name == "西门 人脸"


def test_it_writes_the_template_and_imports_from_a_shell(community_a, rooms, tmp_path: Path) -> None:
    template = tmp_path / "t.xlsx"
    out = io.StringIO()
    call_command("residents_template", str(template), community="CITY-A", stdout=out)
    assert template.is_file() and "wrote" in out.getvalue()

    rows = [HEADER, ["甲", make_id_card(301), "13800000301", "男", "住户", "1", "1", "3", "01"],
            ["乙", make_id_card(302), "1380000", "女", "住户", "1", "1", "3", "02"]]
    book = write_xlsx(tmp_path / "people.xlsx", [Sheet("人员信息", rows)])
    out = io.StringIO()
    call_command("import_residents", str(book), community="CITY-A", stdout=out)
    text = out.getvalue()
    assert "2 rows, 1 accepted, 1 refused, 0 written" in text and "row 3: 手机号：" in text
    assert (tmp_path / "people-checked.xlsx").is_file() and not Resident.objects.exists()

    out = io.StringIO()
    call_command("import_residents", str(book), community="CITY-A", commit=True, stdout=out)
    assert "1 written" in out.getvalue()
    assert read(tmp_path / "people-imported.xlsx")[1][-1] == "imported"
    assert Resident.objects.get().name == "甲"


def test_it_names_the_problem_when_a_command_cannot_start(community_a, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no community with city id 'NOPE'"):
        call_command("residents_template", str(tmp_path / "t.xlsx"), community="NOPE")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CommandError, match="save it as an Excel workbook"):
        call_command("import_residents", str(old), community="CITY-A")


def test_it_exports_the_pass_records_of_a_date_range(community_a, community_b, rooms, alice) -> None:
    import datetime as dt

    from django.utils import timezone

    from devices.exports import export_pass_records
    from devices.models import DeviceEvent

    point = PointFactory(community=community_a, police_point_id="PP-1", number="东门")
    person = initialised(community_a, rooms, 1)[0]

    def event(day: int, hour: int, community=community_a, kind="pass", resident_id=person.pk) -> DeviceEvent:
        at = timezone.make_aware(dt.datetime(2026, 11, day, hour, 0))
        return DeviceEvent.objects.create(community=community, point=point, kind=kind, occurred_at=at,
                                          resident_id=resident_id, direction="in")

    inside = [event(10, 0), event(12, 23)]
    event(9, 23)  # the day before
    event(13, 0)  # the day after
    event(11, 8, kind="face")  # a snapshot, not a pass record
    event(11, 9, community=community_b)
    stranger = event(11, 10, resident_id=None)
    out = io.BytesIO()
    count = export_pass_records(community_a, out, acting_user=alice, start=dt.date(2026, 11, 10),
                                end=dt.date(2026, 11, 12))
    rows = read(out.getvalue())
    assert count == 3 and [r[0] for r in rows[1:]] == [str(inside[0].pk), str(stranger.pk), str(inside[1].pk)]
    assert rows[1][1] == "2026-11-10 00:00" and rows[1][2] == "东门" and rows[1][5] == person.name
    assert rows[1][6] == str(person.init_uuid) and rows[1][7] == "USER" and rows[2][5] is None
    assert ExportLog.objects.get().kind == "pass 20261110-20261112"
