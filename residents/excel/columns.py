"""THE column mapping between our field names and the workbook headers.

The template, the reader, the initialisation package and the residents export all use this one table,
so adapting to the city's current initialisation template is a change here and nowhere else.
Headers are the Chinese the property staff and the city use; they are data, not UI text, so they are
not translated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    field: str  # our name (residents.validation.check_person's key, or a room part)
    header: str  # the header we write
    aliases: tuple[str, ...] = ()  # other headers accepted on import (older templates, the city's)
    width: int = 14
    text: bool = False  # formatted as text ("@") so Excel keeps long digit strings intact
    required: bool = False
    note: str = ""  # shown on the instructions sheet

    def matches(self, header: str) -> bool:
        return header == self.header or header in self.aliases


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("人员姓名", "名字"), 12, required=True, note="必填，最多50个字"),
    Column("id_card", "身份证号", ("身份证号码", "公民身份号码", "证件号码", "身份证"), 22, text=True, required=True,
           note="必填，18位；本列为文本格式，请勿改成数字（数字只保留15位，会丢失后3位）"),
    Column("phone", "手机号", ("手机号码", "联系电话", "电话"), 16, text=True, required=True, note="必填，11位手机号或带区号的座机"),
    Column("sex", "性别", (), 8, required=True, note="男 / 女 / 未知（或 1 / 0 / 2）"),
    Column("person_type", "人员类型", ("类型", "人员类别"), 12, required=True,
           note="住户 / 租户 / 物业人员 / 服务人员 / 来访人员（或 01–05）"),
    Column("building", "楼栋", ("栋",), 8, text=True, note="住户、租户、来访人员必填：房屋所在的栋"),
    Column("unit", "单元", (), 8, text=True, note="单元"),
    Column("floor", "楼层", ("层",), 8, text=True, note="楼层"),
    Column("room", "房号", ("房间号", "门牌号"), 8, text=True, note="房号"),
    Column("address", "地址", ("七段式地址", "住址", "标准地址"), 40,
           note="可不填：留空时由小区标准地址和栋/单元/楼层/房号组成"),
    Column("valid_from", "有效期开始", ("有效开始时间",), 18, note="可不填（长期）；格式 2026-01-31 或 2026-01-31 08:00"),
    Column("valid_until", "有效期结束", ("有效结束时间",), 18, note="可不填（长期）"),
    Column("uuid", "UUID", ("人员UUID", "userId", "人员编号"), 38, text=True,
           note="导入时留空，系统为每人生成；导出的初始化包中为该人员的 userId"),
)

BY_FIELD = {column.field: column for column in COLUMNS}
ROOM_FIELDS = ("building", "unit", "floor", "room")
# Columns a sheet must have to be recognised as a residents sheet.
KEY_FIELDS = ("name", "id_card")

# Our labels for the person-type and sex drop-downs (validation.py accepts these words and the codes).
PERSON_TYPE_WORDS = ("住户", "租户", "物业人员", "服务人员", "来访人员")
PERSON_TYPE_WORD = {"01": "住户", "02": "租户", "03": "物业人员", "04": "服务人员", "05": "来访人员"}
SEX_WORDS = ("男", "女", "未知")
SEX_WORD = {"1": "男", "0": "女", "2": "未知"}


def field_for_header(header: str) -> str | None:
    for column in COLUMNS:
        if column.matches(header):
            return column.field
    return None
