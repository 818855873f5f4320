"""Streaming a residents sheet out of a workbook written by Excel, WPS or us.

Tolerates what real files contain: a title row or a two-level (merged) header above the column
names, header notes such as ``*姓名`` or ``身份证号（必填）``, extra columns, the residents sheet not
being the first sheet, empty rows (trailing or in between), full-width characters, and numbers where
we expect text. Memory stays flat: openpyxl read-only mode yields one row at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.text import scrub, text_problem
from communities.addresses import normalise

from .columns import KEY_FIELDS, field_for_header
from .safety import WorkbookError, check_zip

HEADER_SCAN_ROWS = 15
_NOTE_RE = re.compile(r"[(（\[【].*$")
# Excel keeps 15 significant digits of a number: an 18-digit ID stored as a number has lost its tail.
EXCEL_DIGITS = 15
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y/%m/%d %H:%M",
                 "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")


def clean_header(value: Any) -> str:
    text = normalise(str(value)) if value is not None else ""
    return _NOTE_RE.sub("", text.replace("*", ""))


@dataclass
class Layout:
    sheet: str
    header_row: int  # 1-based row number of the column names; data starts below it
    fields: dict[int, str]  # 0-based column index -> our field name
    headers: list[str]  # the header cells as written (for the result copy)
    ignored: list[str] = field(default_factory=list)  # extra columns we do not read
    above: list[tuple] = field(default_factory=list)  # rows above the column names (titles, merged headers)


@dataclass
class SheetRow:
    number: int  # the row number the user sees in Excel
    values: tuple  # the cells as read (text that cannot be stored scrubbed), for the result copy
    data: dict[str, Any]  # our field name -> cell value (scrubbed likewise)
    text_problems: list[tuple[str, str]] = field(default_factory=list)  # (our field, why its text cannot be stored)


def _scrubbed(values: tuple) -> tuple:
    return tuple(scrub(v) if isinstance(v, str) else v for v in values)


def _score(rows: list[tuple], index: int) -> tuple[dict[int, str], list[str]]:
    """Fields of the header at ``index``; a column empty there takes its name from the rows above
    (a vertically merged header cell keeps its text in its top cell)."""
    fields: dict[int, str] = {}
    headers: list[str] = []
    width = max((len(r) for r in rows[: index + 1]), default=0)
    for col in range(width):
        name = ""
        for above in range(index, max(-1, index - 3), -1):
            row = rows[above]
            if col < len(row) and row[col] not in (None, ""):
                name = clean_header(row[col])
                break
        headers.append(name)
        found = field_for_header(name) if name else None
        if found and found not in fields.values():
            fields[col] = found
    return fields, headers


def find_layout(workbook: openpyxl.Workbook) -> Layout:
    best: Layout | None = None
    for sheet in workbook.worksheets:
        rows = [tuple(r) for r in sheet.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True)]
        for index in range(len(rows)):
            fields, headers = _score(rows, index)
            if not all(key in fields.values() for key in KEY_FIELDS):
                continue
            if best is None or len(fields) > len(best.fields):
                # Cells are copied into the result workbook: what cannot be stored (C1 controls survive XML) is
                # scrubbed from the copy.
                headers = [scrub(h) for h in headers]
                ignored = [h for col, h in enumerate(headers) if h and col not in fields]
                best = Layout(sheet.title, index + 1, fields, headers, ignored, [_scrubbed(r) for r in rows[:index]])
    if best is None:
        raise WorkbookError(_("No sheet has the columns 姓名 and 身份证号 in its first %(n)d rows: use the template "
                              "(or name the header cells as it does).") % {"n": HEADER_SCAN_ROWS})
    return best


class WorkbookReader:
    """``with WorkbookReader(path) as reader: for row in reader.rows(): ...``"""

    def __init__(self, path: Path, *, name: str = "") -> None:
        self.path = Path(path)
        check_zip(self.path, name=name or self.path.name)
        try:
            # read_only streams the sheet; data_only reads cached values and never a formula.
            self.workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise WorkbookError(_("The workbook cannot be read (%(error)s): open it in Excel or WPS and save it "
                                  "again as .xlsx.") % {"error": type(exc).__name__}) from exc
        self.layout = find_layout(self.workbook)
        self.sheet = self.workbook[self.layout.sheet]

    def __enter__(self) -> WorkbookReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.workbook.close()

    def estimated_rows(self) -> int:
        """Rows below the header according to the sheet's stored dimension (may count empty rows)."""
        max_row = self.sheet.max_row
        return max(0, (max_row or 0) - self.layout.header_row)

    def rows(self) -> Iterator[SheetRow]:
        cap = settings.EXCEL_MAX_ROWS
        count = 0
        fields = self.layout.fields
        for number, values in enumerate(
                self.sheet.iter_rows(min_row=self.layout.header_row + 1, values_only=True),
                start=self.layout.header_row + 1):
            if not any(v not in (None, "") and not (isinstance(v, str) and not v.strip()) for v in values):
                continue  # empty rows, trailing or in between
            count += 1
            if count > cap:
                raise WorkbookError(_("The sheet has more than %(cap)d rows: split it into several files.")
                                    % {"cap": cap})
            data: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for col, name in fields.items():
                value = values[col] if col < len(values) else None
                problem = text_problem(value) if isinstance(value, str) else None
                if problem:
                    # Refused by column, and scrubbed so no message, log or copy quotes it as it is.
                    problems.append((name, problem))
                    value = scrub(value)
                data[name] = value
            yield SheetRow(number, _scrubbed(values), data, problems)


# --- Cell values to our values -----------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A cell as text: numbers without a trailing .0, full-width characters and spaces normalised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return normalise(str(value))


def id_card_from_cell(value: Any) -> tuple[str, str | None]:
    """The ID number in a cell, or a problem when Excel stored it as a number and lost digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        digits = cell_text(value)
        if len(digits.replace(".", "").lstrip("0")) > EXCEL_DIGITS or "e" in digits.lower():
            return digits, _("was stored as a number, so Excel kept only %(n)d digits and the last ones are lost: "
                             "format the column as text and type the ID number again") % {"n": EXCEL_DIGITS}
        return digits, None
    return cell_text(value).upper(), None


def datetime_from_cell(value: Any) -> tuple[dt.datetime | None, str | None]:
    if value in (None, ""):
        return None, None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        from openpyxl.utils.datetime import from_excel

        try:
            moment = from_excel(value)
        except (ValueError, OverflowError):
            return None, _("is not a date")
    else:
        text = str(value).strip().replace("　", " ")
        for fmt in _DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None, _("“%(value)s” is not a date (write 2026-01-31 or 2026-01-31 08:00)") % {"value": text}
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, None
