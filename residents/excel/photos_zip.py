"""A ``.zip`` upload: one residents workbook plus photos named by ID number (``510104…1234.jpg``) or
by row number (``5.jpg``). The zip is checked (member count, sizes) before anything is extracted;
photos are read one at a time, never all in memory, and go through the same re-encoding as photos
the city sends (``residents.photos.reencode``: JPEG/PNG only, pixel cap, EXIF applied, metadata
stripped)."""

from __future__ import annotations

import io
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image

from .safety import WorkbookError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class PhotoSource:
    archive: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]  # key (ID number upper-case, or row number) -> member
    used: set[str] = field(default_factory=set)

    def find(self, id_card: str, row: int) -> str | None:
        for key in (id_card.upper(), str(row)):
            if key in self.members:
                return key
        return None

    def read(self, key: str) -> bytes:
        info = self.members[key]
        if info.file_size > settings.PHOTO_FETCH_MAX_BYTES:
            raise ValueError(_("the photo is %(size)d KB, more than %(limit)d KB") % {
                "size": info.file_size // 1024, "limit": settings.PHOTO_FETCH_MAX_BYTES // 1024})
        with self.archive.open(info) as member:
            return member.read(settings.PHOTO_FETCH_MAX_BYTES + 1)

    def problem(self, key: str) -> str | None:
        """A cheap check for the dry run: the header says JPEG or PNG of a sane size (not decoded)."""
        try:
            data = self.read(key)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
                width, height = image.size
        except ValueError as exc:
            return str(exc)
        except Exception:  # Pillow raises many types for a file that is not an image
            return _("is not a JPEG or PNG image")
        if width * height > settings.PHOTO_FETCH_MAX_PIXELS:
            return _("has %(w)dx%(h)d pixels, too many") % {"w": width, "h": height}
        return None

    def unused(self) -> list[str]:
        return sorted(set(self.members) - self.used)


def _check_archive(members: list[zipfile.ZipInfo], name: str) -> None:
    if len(members) > settings.EXCEL_MAX_ZIP_PHOTOS + 10:
        raise WorkbookError(_("“%(name)s” has %(n)d files; the limit is %(limit)d photos.")
                            % {"name": name, "n": len(members), "limit": settings.EXCEL_MAX_ZIP_PHOTOS})
    total = sum(m.file_size for m in members)
    if total > settings.EXCEL_MAX_ZIP_UNCOMPRESSED_BYTES:
        raise WorkbookError(_("“%(name)s” would unpack to %(size)d MB (limit %(limit)d MB).") % {
            "name": name, "size": total // 2**20, "limit": settings.EXCEL_MAX_ZIP_UNCOMPRESSED_BYTES // 2**20})


@contextmanager
def open_upload(path: Path, *, name: str = "") -> Iterator[tuple[Path, PhotoSource | None]]:
    """(the workbook to read, the photos) for an .xlsx or a .zip upload."""
    name = name or path.name
    if Path(name).suffix.lower() != ".zip":
        yield path, None
        return
    if not zipfile.is_zipfile(path):
        raise WorkbookError(_("“%(name)s” is not a valid .zip file.") % {"name": name})
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        _check_archive(members, name)
        books = [m for m in members if m.filename.lower().endswith(".xlsx")]
        if len(books) != 1:
            raise WorkbookError(_("“%(name)s” must hold exactly one .xlsx workbook (it holds %(n)d) and the photos.")
                                % {"name": name, "n": len(books)})
        photos = {}
        for member in members:
            stem, suffix = PurePosixPath(member.filename).stem, PurePosixPath(member.filename).suffix.lower()
            if suffix in PHOTO_SUFFIXES:
                photos[stem.strip().upper()] = member
        folder = Path(tempfile.mkdtemp(prefix="afxq-import-"))
        try:
            workbook = folder / "workbook.xlsx"
            with archive.open(books[0]) as source, open(workbook, "wb") as target:
                # Bounded by the zip check above (member sizes as declared; the xlsx is checked again).
                shutil.copyfileobj(source, target)
            yield workbook, PhotoSource(archive, photos)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
