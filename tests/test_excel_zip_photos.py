"""A .zip of the workbook and photos named by ID number or row number."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PIL import Image

from residents.excel.importer import run_import
from residents.excel.safety import WorkbookError
from residents.models import Resident
from tests.excel_books import HEADER, Sheet, write_xlsx
from tests.factories import make_id_card
from tests.photos import jpeg_bytes, photo, png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def row(serial: int) -> list:
    return [f"居民{serial}", make_id_card(serial), f"138{serial:08d}", "男", "住户", "1", "1", "3", "01"]


def make_zip(path: Path, book: Path | None, files: dict[str, bytes], *, books: int = 1) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(books if book else 0):
            archive.write(book, f"名单/住户{n or ''}.xlsx")
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_it_imports_photos_named_by_id_number_or_row(community_a, rooms, tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "people.xlsx", [Sheet("人员信息", [HEADER, row(1), row(2), row(3), row(4)])])
    upload = make_zip(tmp_path / "people.zip", book, {
        f"照片/{make_id_card(1).lower()}.jpg": jpeg_bytes(photo(300, 400)),   # by ID number
        "照片/3.png": png_bytes(photo(200, 260, seed=2)),                      # by row number: 居民2
        "照片/4.jpg": b"not an image",                                         # 居民3: refused
        "照片/999.jpg": jpeg_bytes(photo(100, 100)),                           # matches no row
        "__MACOSX/._x.jpg": b"junk",
    })
    dry = run_import(upload, community_a, commit=False, name="people.zip")
    assert (dry.rows, dry.accepted, dry.refused, dry.photos) == (4, 3, 1, 3)
    assert dry.problems == [{"row": 4, "message": "照片 (photo in the .zip)：is not a JPEG or PNG image"}]
    assert dry.unused_photos == ["999"]

    done = run_import(upload, community_a, commit=True, name="people.zip")
    assert done.written == 3
    people = {r.name: r for r in Resident.objects.all()}
    for name, size in (("居民1", (300, 400)), ("居民2", (200, 260))):
        person = people[name]
        assert person.photo_status == Resident.PhotoStatus.OK
        with person.photo.open("rb") as stored:
            image = Image.open(stored)
            assert image.format == "JPEG" and image.size == size
    assert not people["居民4"].photo and people["居民4"].photo_status == Resident.PhotoStatus.NONE
    assert "居民3" not in people


def test_it_puts_a_transparent_png_photo_on_white(community_a, rooms, tmp_path: Path) -> None:
    # Transparent black around an opaque face: dropping the alpha channel alone would leave a black background.
    portrait = Image.new("RGBA", (200, 260), (0, 0, 0, 0))
    portrait.paste(Image.new("RGBA", (100, 130), (200, 40, 40, 255)), (50, 65))
    book = write_xlsx(tmp_path / "people.xlsx", [Sheet("人员信息", [HEADER, row(1)])])
    upload = make_zip(tmp_path / "people.zip", book, {"照片/2.png": png_bytes(portrait)})

    assert run_import(upload, community_a, commit=True, name="people.zip").written == 1
    person = Resident.objects.get()
    assert person.photo_status == Resident.PhotoStatus.OK
    with person.photo.open("rb") as stored:
        image = Image.open(stored).convert("RGB")
        corner, centre = image.getpixel((5, 5)), image.getpixel((100, 130))
    assert all(channel >= 250 for channel in corner)
    assert centre[0] > 150 and centre[1] < 100


def test_it_explains_a_zip_without_exactly_one_workbook(community_a, tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "people.xlsx", [Sheet("人员信息", [HEADER, row(1)])])
    for books, held in ((0, 0), (2, 2)):
        upload = make_zip(tmp_path / f"z{books}.zip", book, {"1.jpg": b"x"}, books=books)
        with pytest.raises(WorkbookError, match=f"exactly one .xlsx workbook \\(it holds {held}\\)"):
            run_import(upload, community_a, commit=False, name="z.zip")


def test_it_refuses_a_zip_that_would_unpack_too_far(community_a, tmp_path: Path, settings) -> None:
    book = write_xlsx(tmp_path / "people.xlsx", [Sheet("人员信息", [HEADER, row(1)])])
    upload = make_zip(tmp_path / "big.zip", book, {"1.jpg": b"\0" * (3 * 2**20)})
    settings.EXCEL_MAX_ZIP_UNCOMPRESSED_BYTES = 2**20
    with pytest.raises(WorkbookError, match="would unpack to 3 MB"):
        run_import(upload, community_a, commit=False, name="big.zip")
