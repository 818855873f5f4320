"""The residents template of a community: what property staff fill in."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from afxq_portal.text import ascii_digits
from communities.models import Community, Room

from .columns import BY_FIELD, COLUMNS, PERSON_TYPE_WORDS, SEX_WORDS
from .safety import neutralise

SHEET = "人员信息"
LISTS_SHEET = "选项"
INSTRUCTIONS_SHEET = "填写说明"
EXAMPLE_MARK = "示例"
TEMPLATE_ROWS = 5000  # rows covered by the drop-downs and the text format
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(color="808080", italic=True)


def example_rows(community: Community) -> list[dict[str, str]]:
    """Two rows that show the format; their name says 示例, and the import refuses them as duplicates
    of nothing but as bad ID numbers (the check digit is wrong on purpose)."""
    return [
        {"name": f"张三（{EXAMPLE_MARK}，请删除）", "id_card": "51010419900101123X", "phone": "13800000000", "sex": "男",
         "person_type": "住户", "building": "1", "unit": "1", "floor": "3", "room": "02"},
        {"name": f"李四（{EXAMPLE_MARK}，请删除）", "id_card": "510104198505052345", "phone": "028-86000000",
         "sex": "女", "person_type": "物业人员"},
    ]


def build_template(community: Community, out: Path | IO[bytes]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    _instructions(workbook.create_sheet(INSTRUCTIONS_SHEET), community)
    lists = workbook.create_sheet(LISTS_SHEET)
    _header(sheet)
    for row_values in example_rows(community):
        sheet.append([neutralise(row_values.get(c.field, "")) for c in COLUMNS])
        for cell in sheet[sheet.max_row]:
            cell.font = _EXAMPLE_FONT
    _text_format(sheet)
    _validations(sheet, lists, community)
    lists.sheet_state = "hidden"
    workbook.save(out)


def _header(sheet) -> None:
    sheet.append([c.header for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        if column.note:
            cell.comment = Comment(column.note, "afxq-portal")
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"


def _text_format(sheet) -> None:
    """Text format on ID, phone and room columns, so Excel keeps 18 digits and leading zeros."""
    for index, column in enumerate(COLUMNS, start=1):
        if not column.text:
            continue
        for row in range(2, TEMPLATE_ROWS + 2):
            sheet.cell(row=row, column=index).number_format = "@"


def _list_validation(sheet, lists, column_index: int, field: str, values: list[str], title: str) -> None:
    """A drop-down fed from a column of the hidden options sheet (no 255-character limit)."""
    if not values:
        return
    lists.cell(row=1, column=column_index, value=title)
    for row, value in enumerate(values, start=2):
        lists.cell(row=row, column=column_index, value=value)
    letter = get_column_letter(column_index)
    ref = f"{quote_sheetname(lists.title)}!${letter}$2:${letter}${len(values) + 1}"
    validation = DataValidation(type="list", formula1=ref, allow_blank=True, showErrorMessage=True,
                                errorTitle=title, error=f"请从列表中选择{title}")
    target = get_column_letter([c.field for c in COLUMNS].index(field) + 1)
    validation.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
    sheet.add_data_validation(validation)


def _validations(sheet, lists, community: Community) -> None:
    rooms = Room.objects.filter(building__community=community).select_related("building")
    buildings = sorted({r.building.number for r in rooms} | set(community.buildings.values_list("number", flat=True)),
                       key=_natural)
    units = sorted({r.unit for r in rooms}, key=_natural)
    floors = sorted({r.floor for r in rooms}, key=_natural)
    numbers = sorted({r.number for r in rooms}, key=_natural)
    _list_validation(sheet, lists, 1, "person_type", list(PERSON_TYPE_WORDS), BY_FIELD["person_type"].header)
    _list_validation(sheet, lists, 2, "sex", list(SEX_WORDS), BY_FIELD["sex"].header)
    _list_validation(sheet, lists, 3, "building", buildings, BY_FIELD["building"].header)
    _list_validation(sheet, lists, 4, "unit", units, BY_FIELD["unit"].header)
    _list_validation(sheet, lists, 5, "floor", floors, BY_FIELD["floor"].header)
    _list_validation(sheet, lists, 6, "room", numbers, BY_FIELD["room"].header)


def _natural(value: str) -> tuple:
    return (0, int(value), "") if ascii_digits(value) else (1, 0, value)


def _instructions(sheet, community: Community) -> None:
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 90
    lines = [
        ("小区", f"{community.name}（{community.city_id}）"),
        ("标准地址", community.standard_address),
        ("说明", f"在“{SHEET}”表中每行填写一人；灰色斜体的{EXAMPLE_MARK}行请删除。表头不要改名，可以增加其它列（导入时忽略）。"),
        ("说明", "身份证号、手机号、楼栋、单元、楼层、房号列是文本格式：请直接输入或粘贴为“值”，不要改成数字格式。"),
        ("说明", "上传后系统先检查每一行（不写入），确认后才导入；有问题的行在结果文件中标红并写明原因，改正后可再次上传。"),
        ("说明", "每人导入后获得一个 UUID，作为该人员通行记录的 userId。"),
        ("", ""),
        ("列", "填写要求"),
    ] + [(c.header, c.note) for c in COLUMNS]
    for row in lines:
        sheet.append([neutralise(v) for v in row])
    for cell in sheet["A"]:
        cell.font = Font(bold=True)
