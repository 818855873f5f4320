"""What we check before a workbook reaches openpyxl, and what we do to every cell we write.

An .xlsx is a zip of XML files: a small upload can inflate to gigabytes (zip bomb) or hold XML entity
bombs. We refuse the zip on member count and uncompressed size before parsing, and openpyxl parses
the XML with defusedxml (installed from requirements.txt). Nothing evaluates formulas: we read cached
values only (``data_only=True``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

# Cells that a spreadsheet would run as a formula (or a DDE command) when a user opens the export.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class WorkbookError(Exception):
    """The file cannot be imported at all; the message says why, for the user."""


def max_upload_bytes(name: str = "") -> int:
    if Path(name).suffix.lower() == ".zip":
        return settings.EXCEL_MAX_ZIP_UPLOAD_BYTES
    return settings.EXCEL_MAX_UPLOAD_BYTES


def check_file_name(name: str) -> None:
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise WorkbookError(_("“%(name)s” is an old Excel 97-2003 file (.xls): open it in Excel or WPS and save it "
                              "as an Excel workbook (.xlsx), then upload that.") % {"name": name})
    if suffix == ".csv":
        raise WorkbookError(_("“%(name)s” is a CSV file: open it in Excel or WPS and save it as an Excel workbook "
                              "(.xlsx), so that ID numbers keep all 18 characters, then upload that.") % {"name": name})
    if suffix not in (".xlsx", ".xlsm", ".zip"):
        raise WorkbookError(_("“%(name)s” is not an Excel workbook: upload a .xlsx file (or a .zip of the workbook "
                              "and the photos).") % {"name": name})


def check_zip(path: Path, *, name: str = "") -> None:
    """Refuse what is not an xlsx zip, or what would inflate beyond the configured caps."""
    name = name or path.name
    size = path.stat().st_size
    if size > settings.EXCEL_MAX_UPLOAD_BYTES:
        raise WorkbookError(_("“%(name)s” is %(size)d MB; the limit is %(limit)d MB.") % {
            "name": name, "size": size // 2**20, "limit": settings.EXCEL_MAX_UPLOAD_BYTES // 2**20})
    if not zipfile.is_zipfile(path):
        raise WorkbookError(_("“%(name)s” is not a valid .xlsx file (it may be damaged, or an .xls renamed to "
                              ".xlsx): open it in Excel or WPS and save it as .xlsx.") % {"name": name})
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > settings.EXCEL_MAX_ZIP_MEMBERS:
        raise WorkbookError(_("“%(name)s” has %(n)d parts inside; a workbook has far fewer. Refused.")
                            % {"name": name, "n": len(members)})
    total = sum(member.file_size for member in members)
    if total > settings.EXCEL_MAX_UNCOMPRESSED_BYTES:
        raise WorkbookError(_("“%(name)s” would unpack to %(size)d MB (limit %(limit)d MB). Split it into smaller "
                              "files.") % {"name": name, "size": total // 2**20,
                                          "limit": settings.EXCEL_MAX_UNCOMPRESSED_BYTES // 2**20})
    if "xl/workbook.xml" not in {member.filename for member in members}:
        raise WorkbookError(_("“%(name)s” is a zip file but not an Excel workbook.") % {"name": name})


def neutralise(value: object) -> object:
    """A text cell that starts like a formula gets a leading apostrophe, so it stays text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
