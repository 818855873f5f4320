"""Import of a residents workbook: a check pass (dry run, writes nothing) and a write pass.

Both passes stream the workbook and check every row with ``residents.validation`` (the rules the
apply-access receiver uses too). The write pass checks again, because the community may have
changed since the dry run, and writes each batch of accepted rows in one transaction with
``bulk_create``: a failure leaves no half-written batch. Both passes write a result workbook: the
user's rows with faulty cells highlighted and a message column, to fix in Excel and upload again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from afxq_portal.crypto import keyed_hash
from afxq_portal.pii import mask_text
from communities.addresses import format_seven_segment
from communities.models import Community
from communities.rooms import resolve_room, room_index, room_key

from ..models import TYPES_WITH_ROOM, Resident, ResidentChange, Source, phone_lookup_hash
from ..photos import PhotoRefused, reencode
from ..validation import CleanPerson, check_person, clean_person_type, validity_end
from .columns import BY_FIELD, ROOM_FIELDS
from .photos_zip import PhotoSource, open_upload
from .reader import SheetRow, WorkbookReader, cell_text, datetime_from_cell, id_card_from_cell
from .safety import neutralise
from .template import EXAMPLE_MARK

PROGRESS_EVERY = 500
RESULT_HEADER = "检查结果"
_BAD_FILL = PatternFill("solid", fgColor="FFC7CE")
_BAD_FONT = Font(color="9C0006")
_OK_FILL = PatternFill("solid", fgColor="C6EFCE")


class Cancelled(Exception):
    def __init__(self, summary: ImportSummary) -> None:
        super().__init__("cancelled")
        self.summary = summary


@dataclass
class RowResult:
    number: int
    problems: list[tuple[str, str]]  # (our field, message)
    person: CleanPerson | None = None
    uuid: uuid.UUID | None = None
    room: tuple | None = None  # room_key when the person has a room
    photo: str | None = None  # key of the person's photo in a .zip upload
    notes: list[str] = field(default_factory=list)  # said in the result next to "imported"

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ImportSummary:
    rows: int = 0
    accepted: int = 0
    refused: int = 0
    written: int = 0
    rooms_created: int = 0
    seconds: float = 0.0
    sheet: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    photos: int = 0  # rows with a photo from the .zip
    unused_photos: list[str] = field(default_factory=list)  # photo names that match no row (first 50)
    problems: list[dict] = field(default_factory=list)  # the first PROBLEM_SAMPLE, for the summary page
    result_path: str = ""
    committed: bool = False

    PROBLEM_SAMPLE = 200

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("rows", "accepted", "refused", "written", "rooms_created", "seconds",
                                             "sheet", "ignored_columns", "photos", "unused_photos", "problems",
                                             "result_path", "committed")}


def label(field_name: str) -> str:
    if field_name == "address":
        return _("地址 (or 楼栋/单元/楼层/房号)")
    if field_name == "photo":
        return _("照片 (photo in the .zip)")
    column = BY_FIELD.get(field_name)
    return column.header if column else field_name


def row_message(result: RowResult) -> str:
    return "；".join(f"{label(f)}：{m}" for f, m in result.problems)


class RowChecker:
    """Checks rows one at a time against the community as it is now (one query per lookup table)."""

    def __init__(self, community: Community, *, create_rooms: bool, photos: PhotoSource | None = None) -> None:
        self.community = community
        self.create_rooms = create_rooms
        self.photos = photos
        self.rooms = room_index(community)
        self.existing_hashes = set(Resident.objects.filter(community=community).values_list("id_card_hash", flat=True))
        self.existing_uuids = set(Resident.objects.filter(init_uuid__isnull=False).values_list("init_uuid", flat=True))
        self.seen_hashes: dict[str, int] = {}
        self.seen_uuids: dict[uuid.UUID, int] = {}
        self.standard_address = community.standard_address

    def _address(self, data: dict[str, Any]) -> str:
        address = cell_text(data.get("address"))
        if address:
            return address
        person_type = clean_person_type(cell_text(data.get("person_type")))
        if person_type and person_type not in TYPES_WITH_ROOM:
            # Staff and service staff have no room: their address is the community's standard address.
            return self.standard_address
        parts = [cell_text(data.get(part)) for part in ROOM_FIELDS]
        return format_seven_segment(self.standard_address, *parts) if all(parts) else ""

    def check(self, row: SheetRow) -> RowResult:
        data = row.data
        problems: list[tuple[str, str]] = list(row.text_problems)
        unstorable = {name for name, _message in row.text_problems}
        id_card, id_problem = id_card_from_cell(data.get("id_card"))
        valid_from, from_problem = datetime_from_cell(data.get("valid_from"))
        valid_until, until_problem = datetime_from_cell(data.get("valid_until"))
        valid_until = validity_end(valid_until)  # a day means until the end of it
        raw = {
            "name": cell_text(data.get("name")), "id_card": id_card, "phone": cell_text(data.get("phone")),
            "sex": cell_text(data.get("sex")), "person_type": cell_text(data.get("person_type")),
            "address": self._address(data), "valid_from": valid_from, "valid_until": valid_until,
        }
        person, field_problems = check_person(self.community, raw)
        for problem in field_problems:
            if problem.field in unstorable:
                continue  # its text could not be stored: that is the reason to give
            if problem.field == "id_card" and id_problem:
                continue  # the precision message says more than "check digit is wrong"
            problems.append((problem.field, problem.message))
        if EXAMPLE_MARK in raw["name"]:
            problems.append(("name", _("is an example row of the template: delete the row")))
        for name, message in (("id_card", id_problem), ("valid_from", from_problem), ("valid_until", until_problem)):
            if message:
                problems.append((name, message))
        result = RowResult(row.number, problems, person)
        if person is not None and not result.problems:
            self._check_duplicate(result, person)
            self._check_room(result, person)
        if "uuid" not in unstorable:
            self._check_uuid(result, cell_text(data.get("uuid")))
        if self.photos is not None:
            self._check_photo(result, id_card, row.number)
        if result.problems:
            result.person = None
        return result

    def _check_photo(self, result: RowResult, id_card: str, number: int) -> None:
        key = self.photos.find(id_card, number)
        if key is None:
            return
        self.photos.used.add(key)
        problem = self.photos.problem(key)
        if problem:
            result.problems.append(("photo", problem))
        else:
            result.photo = key

    def _check_uuid(self, result: RowResult, text: str) -> None:
        if not text:
            return
        try:
            value = uuid.UUID(text)
        except ValueError:
            result.problems.append(("uuid", _("“%(value)s” is not a UUID (leave it empty to get one)") % {"value": text}))
            return
        if value in self.existing_uuids:
            result.problems.append(("uuid", _("is already the UUID of a registered person")))
        elif value in self.seen_uuids:
            result.problems.append(("uuid", _("is the same as row %(n)d") % {"n": self.seen_uuids[value]}))
        else:
            self.seen_uuids[value] = result.number
            result.uuid = value

    def _check_duplicate(self, result: RowResult, person: CleanPerson) -> None:
        digest = keyed_hash(person.id_card)
        if digest in self.existing_hashes:
            result.problems.append(("id_card", _("is already registered in this community")))
        elif digest in self.seen_hashes:
            result.problems.append(("id_card", _("is the same as row %(n)d") % {"n": self.seen_hashes[digest]}))
        else:
            self.seen_hashes[digest] = result.number

    def _check_room(self, result: RowResult, person: CleanPerson) -> None:
        if person.seven_segment is None:
            return
        key = room_key(person.seven_segment)
        if key not in self.rooms and not self.create_rooms:
            result.problems.append(("address", _("room %(room)s does not exist in this community (add it, or tick "
                                                 "“create missing rooms”)") % {"room": "-".join(key)}))
            return
        result.room = key


class ResultWriter:
    """The user's rows again, faulty cells highlighted, with a message column (write-only: streamed)."""

    def __init__(self, reader: WorkbookReader) -> None:
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(reader.layout.sheet[:31])
        self.layout = reader.layout
        self.columns = {name: col for col, name in reader.layout.fields.items()}
        self.width = len(reader.layout.headers)
        # Same row numbers as the user's sheet, so "row N" in a message is row N of the result too:
        # the rows above the column names are copied, skipped empty rows stay empty.
        for values in reader.layout.above:
            self.sheet.append([neutralise(v) for v in values])
        self.sheet.append([*reader.layout.headers, RESULT_HEADER])
        self.next_row = reader.layout.header_row + 1

    def add(self, row: SheetRow, message: str, bad_fields: set[str]) -> None:
        while self.next_row < row.number:
            self.sheet.append([])
            self.next_row += 1
        self.next_row += 1
        bad_cols = {self.columns[f] for f in bad_fields if f in self.columns and f != "address"}
        if "address" in bad_fields:
            # The address came from the 地址 cell when filled, else from 楼栋/单元/楼层/房号.
            if cell_text(row.data.get("address")):
                bad_cols.add(self.columns["address"])
            else:
                bad_cols |= {self.columns[f] for f in ROOM_FIELDS if f in self.columns}
        cells = []
        values = list(row.values[: self.width]) + [None] * (self.width - len(row.values))
        for col, value in enumerate(values):
            cell = WriteOnlyCell(self.sheet, value=neutralise(value))
            if col in bad_cols:
                cell.fill, cell.font = _BAD_FILL, _BAD_FONT
            cells.append(cell)
        note = WriteOnlyCell(self.sheet, value=neutralise(message))
        if not bad_fields:
            note.fill = _OK_FILL
        cells.append(note)
        self.sheet.append(cells)

    def save(self, path: Path) -> None:
        self.workbook.save(path)


class BatchWriter:
    """Accepted rows, written in batches: rooms, residents and their history rows in one transaction."""

    def __init__(self, community: Community, *, acting_user: AbstractBaseUser | None, label: str,
                 rooms: dict[tuple, int] | None = None, photos: PhotoSource | None = None) -> None:
        self.community = community
        self.photos = photos
        self.saved_photos: list = []  # files stored for the batch being written
        self.acting_user = acting_user
        self.label = label
        self.pending: list[RowResult] = []
        # The rooms the checker loaded (room_key -> pk); rooms created here are added as they come.
        self.room_ids: dict[tuple, int] = dict(rooms or {})
        self.created_in_batch: list[tuple] = []
        self.written = 0
        self.rooms_created = 0
        self.failed: dict[int, str] = {}  # row number -> why its batch failed

    def add(self, result: RowResult) -> None:
        self.pending.append(result)

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.created_in_batch, self.saved_photos = [], []
        try:
            with transaction.atomic():
                residents = [self._resident(result) for result in batch]
                Resident.objects.bulk_create(residents)
                now = timezone.now()
                ResidentChange.objects.bulk_create([
                    ResidentChange(resident=r, at=now, actor=self.acting_user, actor_label=self.label,
                                   from_status="", to_status=r.status, reason=_("imported from Excel"),
                                   details={"row": result.number})
                    for r, result in zip(residents, batch, strict=True)])
        except DatabaseError as exc:
            # Someone registered one of these people meanwhile (or the database failed): the whole
            # batch is rolled back and reported, the next batches go on.
            for result in batch:
                self.failed[result.number] = mask_text(str(exc))[:200]
            for key in self.created_in_batch:  # rolled back with the batch
                self.room_ids.pop(key, None)
            for stored in self.saved_photos:
                stored.storage.delete(stored.name)
            return
        self.written += len(batch)

    def _room_id(self, key: tuple, result: RowResult) -> int:
        if key not in self.room_ids:
            room, created = resolve_room(self.community, result.person.seven_segment, create=True)
            self.room_ids[key] = room.pk
            self.created_in_batch.append(key)
            self.rooms_created += int(created)
        return self.room_ids[key]

    def _resident(self, result: RowResult) -> Resident:
        person = result.person
        resident = Resident(
            community=self.community, name=person.name, id_card=person.id_card, phone=person.phone,
            sex=person.sex, person_type=person.person_type, address=person.address,
            valid_from=person.valid_from, valid_until=person.valid_until,
            init_uuid=result.uuid or Resident.new_init_uuid(), source=Source.IMPORT,
            status=Resident.Status.ACTIVE,
        )
        resident.id_card_hash = keyed_hash(person.id_card)  # bulk_create does not call save()
        resident.phone_hash = phone_lookup_hash(person.phone)
        if result.room is not None:
            resident.room_id = self._room_id(result.room, result)
        if result.photo is not None:
            self._attach_photo(resident, result)
        return resident

    def _attach_photo(self, resident: Resident, result: RowResult) -> None:
        """The photo goes through the same re-encoding as the city's; a photo that fails it does not
        stop the person (the dry run checked its header): they are imported without it."""
        try:
            jpeg = reencode(self.photos.read(result.photo))
        except (PhotoRefused, ValueError) as exc:
            resident.photo_status, resident.photo_error = Resident.PhotoStatus.FAILED, str(exc)[:200]
            result.notes.append(_("photo refused: %(reason)s") % {"reason": exc})
            return
        resident.photo.save(f"{uuid.uuid4().hex}.jpg", ContentFile(jpeg), save=False)
        resident.photo_status = Resident.PhotoStatus.OK
        self.saved_photos.append(resident.photo)


Progress = Callable[[int, int, int], bool]  # (rows done, refused so far, total) -> keep going?


def run_import(path: Path, community: Community, *, commit: bool, create_rooms: bool = False,
               acting_user: AbstractBaseUser | None = None, result_path: Path | None = None,
               progress: Progress | None = None, name: str = "", batch_size: int | None = None) -> ImportSummary:
    """Check (and with ``commit`` write) a workbook. Raises WorkbookError for a file that cannot be
    read at all and Cancelled when ``progress`` says stop."""
    started = time.monotonic()
    batch_size = batch_size or settings.EXCEL_IMPORT_BATCH_SIZE
    summary = ImportSummary(committed=commit)
    with open_upload(Path(path), name=name) as (book, photos), WorkbookReader(book, name=name) as reader:
        summary.sheet, summary.ignored_columns = reader.layout.sheet, reader.layout.ignored
        total = reader.estimated_rows()
        checker = RowChecker(community, create_rooms=create_rooms, photos=photos)
        writer = BatchWriter(community, acting_user=acting_user, rooms=checker.rooms, photos=photos,
                             label=_("Excel import") if acting_user is None else "") if commit else None
        results = ResultWriter(reader) if result_path else None
        pending_rows: list[tuple[SheetRow, RowResult]] = []
        for row in reader.rows():
            result = checker.check(row)
            summary.rows += 1
            if result.ok:
                summary.accepted += 1
                if writer is not None:
                    writer.add(result)
            else:
                summary.refused += 1
                _sample(summary, result)
            pending_rows.append((row, result))
            if len(pending_rows) >= batch_size:
                if writer is not None:
                    writer.flush()
                _drain(pending_rows, results, writer, summary)
            if progress is not None and summary.rows % PROGRESS_EVERY == 0:
                if not progress(summary.rows, summary.refused, max(total, summary.rows)):
                    # Batches already written stay (each whole); the rows not yet written are not.
                    if writer is not None:
                        summary.written, summary.rooms_created = writer.written, writer.rooms_created
                    raise Cancelled(summary)
        if writer is not None:
            writer.flush()
        _drain(pending_rows, results, writer, summary)
        if photos is not None:
            summary.photos = len(photos.used)
            summary.unused_photos = photos.unused()[:50]
    if writer is not None:
        summary.written, summary.rooms_created = writer.written, writer.rooms_created
    if results is not None:
        results.save(result_path)
        summary.result_path = str(result_path)
    summary.seconds = round(time.monotonic() - started, 2)
    if progress is not None:
        progress(summary.rows, summary.refused, summary.rows)
    return summary


def _sample(summary: ImportSummary, result: RowResult) -> None:
    if len(summary.problems) < ImportSummary.PROBLEM_SAMPLE:
        summary.problems.append({"row": result.number, "message": row_message(result)})


def _drain(pending_rows: list, results: ResultWriter | None, writer: BatchWriter | None,
           summary: ImportSummary) -> None:
    """Write the result lines of rows whose batch is settled (written, or failed as a whole)."""
    for row, result in pending_rows:
        if writer is not None and result.number in writer.failed:
            result.problems.append(("name", _("not written, its batch failed: %(error)s")
                                    % {"error": writer.failed[result.number]}))
            summary.accepted -= 1
            summary.refused += 1
            _sample(summary, result)
        if results is not None:
            if result.ok:
                message = "；".join([_("imported") if writer is not None else _("OK"), *result.notes])
            else:
                message = row_message(result)
            results.add(row, message, {f for f, _m in result.problems})
    pending_rows.clear()
