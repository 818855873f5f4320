"""Ingest: events from devices become device events and outbox rows, one answer per event.

Every event is checked field by field; a refused event names the field and the reason and is counted
on the device. The images of every event are made to meet the city's rules first (``devices.images``),
within what one request may ask (``Budget``: the events beyond it are refused, to be sent again); then the
accepted events are stored, each with its outbox row, in one transaction, just before the answer. The
point, the community and the ``policePointId`` come from the device's key, never from the body.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from afxq_portal.text import nested_problems

from ..models import Device, DeviceEvent
from . import store
from .answers import Answer, Budget, Deferred, OverBudget, Refused
from .events import CHECKS, POINT_KIND, Draft
from .fields import clean_event_id

__all__ = ["MAX_EVENTS_PER_REQUEST", "POINT_KIND", "Answer", "Refused", "ingest_events"]

MAX_EVENTS_PER_REQUEST = 100


def ingest_events(device: Device, kind: str, events: list[Any], started: float | None = None) -> list[Answer]:
    """Check each event on its own (one bad event never costs the others) and make its images, within the
    request's budget (``Budget``, from ``started``, the request's arrival); then store every accepted event in
    one short transaction, so that an answer is lost only when nothing of it was committed. The text of the
    whole batch is checked first: an event that cannot be stored is refused by name, never by an error after
    other events were stored."""
    budget = Budget.for_request(started)
    screened = [text_refusals(event) if isinstance(event, dict) else [] for event in events]
    answers = [Answer(index, errors=screened[index]) if screened[index]
               else ingest_event(device, kind, index, event, budget) for index, event in enumerate(events)]
    store.store_drafts(device, answers, kind)
    return answers


def ingest_event(device: Device, kind: str, index: int, event: Any, budget: Budget) -> Answer:
    """One event whose text ingest_events already checked."""
    answer = Answer(index)
    if not isinstance(event, dict):
        answer.errors = [Refused("event", _("must be an object"))]
        return answer
    try:
        event_id = clean_event_id(event.get("eventId"))
    except Refused as exc:
        answer.errors = [exc]
        return answer
    # A resend of an event already accepted: the same answer, no second record (and no image work).
    earlier = DeviceEvent.objects.filter(device=device, device_event_id=event_id).first() if event_id else None
    if earlier is not None:
        answer.event, answer.duplicate = earlier, True
        return answer
    try:
        outcome = CHECKS[kind](device, event, budget)
    except OverBudget:
        answer.errors, answer.resend = [Deferred()], True
        return answer
    if not isinstance(outcome, Draft):
        answer.errors = outcome
        return answer
    outcome.event_id = event_id
    answer.draft = outcome
    return answer


def text_refusals(event: dict) -> list[Refused]:
    """Every field name or text value of the event that cannot be stored (afxq_portal.text: a lone surrogate,
    NUL, a control character), by field; checked before any lookup, since the database, the log and the
    answer would each fail on it."""
    return [Refused(name, reason) for name, reason in nested_problems(event)]
