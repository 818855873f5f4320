"""The face list for devices: which residents a face panel must recognise, as a change feed.

Items are ordered by (time of change, kind, id): residents by ``updated_at`` (kind 0), deletions by
the tombstone's ``deleted_at`` (kind 1). The cursor is the key of the last item delivered, so a
device that polls with it gets every later change exactly once, with the resident's latest state.
Changes newer than DEVICE_FACE_LIST_SETTLE_SECONDS are held back for one poll: a transaction that
started earlier may still commit a smaller ``updated_at``, and a cursor must never pass it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from residents.models import Resident

from .models import FaceTombstone

RESIDENT, TOMBSTONE = 0, 1
DEFAULT_PAGE = 100
MAX_PAGE = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadCursor(ValueError):
    pass


class CursorTooOld(ValueError):
    """The cursor predates the tombstones still kept: deletions since then may be gone, so the device
    must start again with a full sync."""


@dataclass(frozen=True, order=True)
class Cursor:
    at: datetime
    kind: int
    id: int

    def encode(self) -> str:
        micros = int((self.at - EPOCH) / timedelta(microseconds=1))
        return base64.urlsafe_b64encode(f"{micros}:{self.kind}:{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            micros, kind, pk = (int(part) for part in raw.split(":"))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadCursor(text) from exc
        if kind not in (RESIDENT, TOMBSTONE):
            raise BadCursor(text)
        return cls(EPOCH + timedelta(microseconds=micros), kind, pk)


def must_recognise(residents: QuerySet[Resident], moment: datetime) -> QuerySet[Resident]:
    """Of ``residents``, those a face panel must recognise at ``moment``: active, within their validity window,
    with a photo (the one rule, for the face terminals the portal pushes to, terminals.people). The face list
    below gives devices every active resident with their window, and the device applies the window itself."""
    return (residents.filter(status=Resident.Status.ACTIVE)
            .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=moment))
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=moment))
            .exclude(photo=""))


def settle_window() -> timedelta:
    return timedelta(seconds=getattr(settings, "DEVICE_FACE_LIST_SETTLE_SECONDS", 5))


def tombstone_retention() -> timedelta:
    return timedelta(days=getattr(settings, "DEVICE_FACE_TOMBSTONE_DAYS", 30))


def purge_tombstones(*, now: datetime | None = None) -> int:
    """Forget deletions older than DEVICE_FACE_TOMBSTONE_DAYS; cursors that old get CursorTooOld."""
    horizon = (now or timezone.now()) - tombstone_retention()
    deleted, _by_model = FaceTombstone.objects.filter(deleted_at__lt=horizon).delete()
    return deleted


def residents_after(community_id: int, cursor: Cursor | None, until: datetime) -> QuerySet[Resident]:
    residents = Resident.objects.filter(community_id=community_id, updated_at__lte=until)
    if cursor is not None:
        later = Q(updated_at__gt=cursor.at)
        if cursor.kind == RESIDENT:
            later |= Q(updated_at=cursor.at, pk__gt=cursor.id)
        residents = residents.filter(later)
    return residents.order_by("updated_at", "pk")


def tombstones_after(community_id: int, cursor: Cursor, until: datetime) -> QuerySet[FaceTombstone]:
    later = Q(deleted_at__gt=cursor.at) | Q(deleted_at=cursor.at, pk__gt=cursor.id)
    if cursor.kind == RESIDENT:
        later |= Q(deleted_at=cursor.at)
    return (FaceTombstone.objects.filter(community_id=community_id, deleted_at__lte=until)
            .filter(later).order_by("deleted_at", "pk"))


@dataclass
class FacePage:
    faces: list[Resident]
    removed: list[tuple[int, str]]  # (resident id, why)
    cursor: Cursor
    more: bool


def face_page(community_id: int, since: str | None, limit: int = DEFAULT_PAGE) -> FacePage:
    """One page of the feed. Without ``since``: the active residents from the start (a full sync);
    with it: every change after it, removals included."""
    limit = max(1, min(limit, MAX_PAGE))
    cursor = Cursor.decode(since) if since else None
    now = timezone.now()
    if cursor is not None and cursor.at < now - tombstone_retention():
        raise CursorTooOld(since)
    until = now - settle_window()
    residents = residents_after(community_id, cursor, until)
    if cursor is None:
        residents = residents.filter(status=Resident.Status.ACTIVE)
    items: list[tuple[Cursor, Any]] = [(Cursor(r.updated_at, RESIDENT, r.pk), r) for r in residents[: limit + 1]]
    if cursor is not None:
        items += [(Cursor(t.deleted_at, TOMBSTONE, t.pk), t)
                  for t in tombstones_after(community_id, cursor, until)[: limit + 1]]
    items.sort(key=lambda item: item[0])
    page, more = items[:limit], len(items) > limit
    faces, removed = [], []
    for _key, item in page:
        if isinstance(item, FaceTombstone):
            removed.append((item.resident_id, "deleted"))
        elif item.status == Resident.Status.ACTIVE:
            faces.append(item)
        else:
            removed.append((item.pk, item.status))
    # Nothing (more) to deliver: the next poll starts where this one looked up to, so that the cursor
    # of a quiet community keeps moving and never ages past the tombstone retention.
    # Never backwards either (a longer settle window than at the last poll).
    floor = page[-1][0] if page else (cursor or Cursor(EPOCH, RESIDENT, 0))
    next_cursor = page[-1][0] if more else max(floor, Cursor(until, TOMBSTONE, 0))
    return FacePage(faces, removed, next_cursor, more)
