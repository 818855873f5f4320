"""Storing accepted events: each with its outbox row, all of a request in one transaction, the device's
counters with them."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from uploads import contract
from uploads.services import delete_images, enqueue_record

from ..models import Device, DeviceEvent, RefusedEvent
from .answers import Answer, Deferred, Refused
from .events import Draft

logger = logging.getLogger("devices.ingest")


def record_event(device: Device, draft: Draft) -> DeviceEvent:
    """The event and its outbox row, together or not at all. The event's id is the record's outId."""
    community = device.point.community
    written: list[str] = []
    try:
        with transaction.atomic():
            event = DeviceEvent.objects.create(
                community=community, device=device, point=device.point, kind=draft.kind,
                occurred_at=draft.occurred_at, resident_id=draft.resident_id, direction=draft.direction,
                plate=draft.plate, device_event_id=draft.event_id)
            record = draft.record
            fields = (contract.with_out_id(record.fields, event.out_id) if draft.kind == DeviceEvent.Kind.PASS
                      else record.fields)
            event.outbox_record = enqueue_record(community=community, endpoint=record.endpoint, fields=fields,
                                                 images=record.images)
            written = list(event.outbox_record.images.values())
            event.save(update_fields=["outbox_record"])
    except BaseException:
        # enqueue_record wrote the images to storage before this transaction ends, and a rollback (anything
        # raising after it returned, the commit included) does not remove files: delete them, or they stay
        # with no row pointing at them. (If enqueue_record itself raised, it already deleted its own.)
        delete_images(written)
        raise
    return event


def store_drafts(device: Device, answers: list[Answer], kind: str) -> None:
    """Every draft of the request and the device's counters in one transaction; each event in a savepoint of
    its own, so that one that cannot be stored is refused alone. If the transaction does not commit, the
    files written for its events are deleted and the error propagates: the device gets no "accepted"."""
    written: list[str] = []
    try:
        with transaction.atomic():
            for answer in answers:
                if answer.draft is not None:
                    written += store_draft(device, answer)
            count_answers(device, answers)
            # With the counters, in the same transaction: a refusal is listed only if the request's answer holds.
            keep_refusals(device, kind, [a for a in answers if a.event is None and a.errors])
    except BaseException:
        delete_images(written)
        raise


def store_draft(device: Device, answer: Answer) -> list[str]:
    """Store ``answer``'s draft; the image files written for it (none if it was not stored)."""
    draft, answer.draft = answer.draft, None
    try:
        answer.event = record_event(device, draft)  # its atomic block is a savepoint of store_drafts' transaction
    except OSError as exc:
        # The media folder is full or unwritable: the savepoint rolled back and the outbox removed the files it
        # had written, so nothing half-stored is kept. Refused with the reason; the device resends.
        logger.error("device %s: event %d not stored, its images could not be written: %s", device.key_prefix,
                     answer.index, exc.strerror or type(exc).__name__)
        answer.errors = [Refused("images", _("could not be stored: the server's storage is full or unwritable; "
                                             "send the event again later"))]
        answer.resend = True
        return []
    except IntegrityError:
        # The same eventId was stored first by another request (or earlier in this one): answer with it.
        answer.event = DeviceEvent.objects.filter(device=device, device_event_id=draft.event_id).first()
        if answer.event is None:
            raise
        answer.duplicate = True
        return []
    return list(answer.event.outbox_record.images.values())


def count_answers(device: Device, answers: list[Answer]) -> None:
    accepted = sum(1 for a in answers if a.event is not None and not a.duplicate)
    # Deferred events are the server's limit, not the device's fault: not counted as its refusals.
    deferred = [a.index for a in answers if a.event is None and isinstance(a.errors[0], Deferred)]
    refused = [a for a in answers if a.event is None and not isinstance(a.errors[0], Deferred)]
    if deferred:
        logger.info("device %s: %d events deferred (request budget spent), from event %d", device.key_prefix,
                    len(deferred), deferred[0])
    updates: dict[str, Any] = {"accepted_count": F("accepted_count") + accepted,
                               "refused_count": F("refused_count") + len(refused)}
    if refused:
        last = refused[-1].errors[0]
        updates["last_refusal"] = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {last.field}: {last.reason}"[:300]
        for answer in refused:
            # Reasons never contain the submitted values, so no personal data reaches the log.
            logger.info("device %s refused event %d: %s", device.key_prefix, answer.index,
                        "; ".join(str(e) for e in answer.errors))
    Device.objects.filter(pk=device.pk).update(**updates)


def keep_refusals(device: Device, kind: str, refused: list[Answer]) -> None:
    """One row per refused event, in one INSERT. A request holds at most MAX_EVENTS_PER_REQUEST events, but the
    bound is applied here too: a caller that skipped the check must not write unbounded rows. Only field names
    and reasons are stored, never a submitted value."""
    from . import MAX_EVENTS_PER_REQUEST  # the package imports this module: read at call time

    now = timezone.now()
    rows = [RefusedEvent(community_id=device.point.community_id, device=device, point_id=device.point_id,
                         kind=kind, received_at=now, index=a.index, field=a.errors[0].field[:100],
                         reason=a.errors[0].reason[:300], resend=a.resend,
                         errors=[{"field": e.field, "reason": e.reason} for e in a.errors])
            for a in refused[:MAX_EVENTS_PER_REQUEST]]
    if rows:
        RefusedEvent.objects.bulk_create(rows)
