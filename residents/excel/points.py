"""Provincial point names in bulk from a workbook (two columns: policePointId and the provincial
name), matched against our points by ``communities.points.import_provincial_names``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openpyxl
from django.utils.translation import gettext as _

from communities.models import Community
from communities.points import PointNameImport, check_pairs, import_provincial_names

from .reader import cell_text, clean_header
from .safety import WorkbookError, check_zip

ID_HEADERS = ("policepointid", "点位id", "点位编码", "前端感知源点位id")
NAME_HEADERS = ("省厅点位名称", "省平台点位名称", "点位名称", "provincialname")


def read_point_names(path: Path, *, name: str = "") -> tuple[list[tuple[str, str]], list[str]]:
    check_zip(path, name=name or path.name)
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            for header_number, header in enumerate(rows, start=1):
                names = [clean_header(v).lower() for v in header]
                id_col = next((i for i, h in enumerate(names) if h in ID_HEADERS), None)
                name_col = next((i for i, h in enumerate(names) if h in NAME_HEADERS), None)
                if id_col is not None and name_col is not None:
                    return _pairs(rows, header_number, id_col, name_col)
                if header_number >= 10:
                    break
    finally:
        workbook.close()
    raise WorkbookError(_("No sheet has the columns policePointId and 省厅点位名称."))


def _pairs(rows: Iterator[tuple], header_number: int, id_col: int,
           name_col: int) -> tuple[list[tuple[str, str]], list[str]]:
    entries = []
    for number, values in enumerate(rows, start=header_number + 1):
        point_id = cell_text(values[id_col] if id_col < len(values) else None)
        # The provincial name is compared character for character: keep it exactly, only trim the ends.
        raw_name = values[name_col] if name_col < len(values) else None
        entries.append((_("row %(n)d") % {"n": number}, point_id, str(raw_name).strip() if raw_name is not None else ""))
    return check_pairs(entries)


def import_point_names(community: Community, path: Path, *, name: str = "") -> tuple[PointNameImport, list[str]]:
    pairs, problems = read_point_names(path, name=name)
    return import_provincial_names(community, pairs), problems
