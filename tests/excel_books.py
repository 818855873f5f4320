"""Workbooks written byte for byte the way Excel and WPS write them, not the way openpyxl does.

Excel writes text as shared strings (``t="s"``) and numbers in its own notation (an 18-digit ID typed
into a General cell is stored as ``5.10104199001011E+17``); WPS and several exporters write inline
strings (``t="inlineStr"``) and sometimes no ``<dimension>``. Merged header cells are a
``<mergeCells>`` list with the text in the top-left cell only.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter


@dataclass(frozen=True)
class Num:
    """A number cell with exactly this text in <v> (e.g. Excel's "5.10104199001011E+17")."""
    text: str


@dataclass(frozen=True)
class Formula:
    """A formula cell, with the value Excel cached when it last calculated (None: never calculated)."""
    formula: str
    cached: str | None = None


@dataclass
class Sheet:
    name: str
    rows: list[list[object]]
    merges: tuple[str, ...] = ()
    dimension: bool = True


def write_xlsx(path: Path, sheets: list[Sheet], *, strings: str = "shared") -> Path:
    """``strings``: "shared" (Excel) or "inline" (WPS and exporters)."""
    shared: list[str] = []
    index: dict[str, int] = {}

    def cell_xml(ref: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, Formula):
            cached = f"<v>{escape(value.cached)}</v>" if value.cached is not None else ""
            return f'<c r="{ref}" t="str"><f>{escape(value.formula)}</f>{cached}</c>'
        if isinstance(value, Num):
            return f'<c r="{ref}"><v>{value.text}</v></c>'
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value!r}</v></c>'
        text = str(value)
        if strings == "inline":
            return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'
        if text not in index:
            index[text] = len(shared)
            shared.append(text)
        return f'<c r="{ref}" t="s"><v>{index[text]}</v></c>'

    def sheet_xml(sheet: Sheet) -> str:
        width = max((len(r) for r in sheet.rows), default=1)
        rows = []
        for r, values in enumerate(sheet.rows, start=1):
            cells = "".join(cell_xml(f"{get_column_letter(c)}{r}", v) for c, v in enumerate(values, start=1))
            rows.append(f'<row r="{r}">{cells}</row>')
        dimension = (f'<dimension ref="A1:{get_column_letter(width)}{max(1, len(sheet.rows))}"/>'
                     if sheet.dimension else "")
        merges = ""
        if sheet.merges:
            merges = f'<mergeCells count="{len(sheet.merges)}">' + "".join(
                f'<mergeCell ref="{m}"/>' for m in sheet.merges) + "</mergeCells>"
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                f'{dimension}<sheetData>{"".join(rows)}</sheetData>{merges}</worksheet>')

    sheet_xmls = [sheet_xml(s) for s in sheets]
    ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1))
        if shared or strings == "shared":
            overrides += ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                          'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                   f"{overrides}</Types>")
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ns}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        sheets_xml = "".join(f'<sheet name="{escape(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                             for i, s in enumerate(sheets, start=1))
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   f'xmlns:r="{ns}"><sheets>{sheets_xml}</sheets></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{ns}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, len(sheets) + 1))
        rels += (f'<Relationship Id="rId{len(sheets) + 1}" Type="{ns}/sharedStrings" Target="sharedStrings.xml"/>'
                 if strings == "shared" else "")
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
                   "</Relationships>")
        for i, xml in enumerate(sheet_xmls, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", xml)
        if strings == "shared":
            items = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in shared)
            z.writestr("xl/sharedStrings.xml",
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                       '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                       f'count="{len(shared)}" uniqueCount="{len(shared)}">{items}</sst>')
    return path


HEADER = ["姓名", "身份证号", "手机号", "性别", "人员类型", "楼栋", "单元", "楼层", "房号", "地址", "有效期开始", "有效期结束",
          "UUID"]
