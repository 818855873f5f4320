"""The outbox's entry point for every app that produces something for the city."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from afxq_portal.celery_app import start_task
from communities.models import Community

from .models import Endpoint, OutboxRecord

DRAIN_TASK = "uploads.drain_outbox"

log = logging.getLogger(__name__)


def enqueue_record(
    *, community: Community, endpoint: str, fields: Mapping, images: Mapping[str, bytes] | None = None
) -> OutboxRecord:
    """Store one record for the city. Call it inside the transaction that produced the record, so
    that the record exists if and only if its source does. Images (JPEG bytes already within the
    city's limits) go to file storage; the row keeps their paths. A drain task is nudged on commit;
    if that message is lost, the periodic sweep finds the row anyway.

    The files are written before the transaction commits and a rollback does not remove them: if
    this raises, it has deleted its own; if the caller's transaction fails after this returned, the
    caller deletes ``record.images`` (``delete_images``; see devices.ingest.record_event)."""
    if endpoint not in Endpoint.values:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    day = timezone.localdate().strftime("%Y/%m/%d")
    stored: dict[str, str] = {}
    path = ""
    try:
        for field_name, data in (images or {}).items():
            path = f"outbox/{community.pk}/{day}/{uuid.uuid4().hex}.jpg"
            stored[field_name] = default_storage.save(path, ContentFile(data))
        record = OutboxRecord(community=community, endpoint=endpoint, images=stored)
        record.set_fields(fields)
        record.save()
        nudge_on_commit(community.pk, endpoint)
    except BaseException:
        # No row, so no file either: a write that failed (disk full, ENOSPC, or unwritable; a partial file
        # included) or a failure after it, which rolls the caller's transaction back, would otherwise leave
        # files that nothing points at.
        delete_images([*stored.values(), path])
        raise
    return record


def delete_images(paths: Iterable[str]) -> None:
    """Delete outbox image files, best effort: a missing file is no error, a failed delete is logged."""
    for path in paths:
        if not path:
            continue
        try:
            default_storage.delete(path)
        except OSError:
            log.warning("could not delete outbox image %s", path)


# (community, endpoint) pairs with a nudge registered on commit and not yet sent, per thread (Django's
# connections are per thread, so this is per connection).
_unsent_nudges = threading.local()


def nudge_on_commit(community_id: int, endpoint: str) -> None:
    """One nudge per (community, endpoint) per commit, however many rows the transaction writes: a
    device ingest of 500 records must not publish 500 messages. Every call registers a callback (a
    savepoint rolled back discards its own), and the first to run after the commit sends the nudge; a
    pair left unsent by a rolled-back transaction is sent at the next commit that registers it."""
    unsent: set[tuple[int, str]] = _unsent_nudges.__dict__.setdefault("pairs", set())
    key = (community_id, endpoint)
    unsent.add(key)

    def nudge() -> None:
        if key in unsent:
            unsent.discard(key)
            nudge_drain(community_id, endpoint)

    transaction.on_commit(nudge)


def nudge_drain(community_id: int, endpoint: str) -> None:
    """Ask a worker to drain one community's endpoint now. Best effort: never raises, since the
    beat sweep guarantees delivery without it."""
    start_task(DRAIN_TASK, community_id, endpoint, what=f"the drain of {community_id}/{endpoint}")
