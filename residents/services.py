"""State-changing operations on people. Each runs in a transaction and writes a history row."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from afxq_portal.celery_app import start_task
from afxq_portal.crypto import keyed_hash
from afxq_portal.pii import mask_text
from communities.models import Community, Room
from communities.rooms import resolve_room
from uploads import contract as city_contract
from uploads.services import enqueue_record

from .contract import format_problems, read_application
from .known import Known
from .models import TYPES_WITH_ROOM, ApplyAccessCall, Resident, ResidentChange, ResidentProposal
from .validation import CleanApplication, FieldProblem

logger = logging.getLogger(__name__)
call_logger = logging.getLogger("residents.apply_access")

# Stored as data in English, shown translated (ResidentChange.by / reason_display).
CITY_ACTOR = gettext_noop("city platform (apply-access)")
SYSTEM_EXPIRY_ACTOR = gettext_noop("system (validity ended)")
SYSTEM_RETENTION_ACTOR = gettext_noop("system (retention)")
REGISTERED_REASON = gettext_noop("registered by the city")
UPDATED_REASON = gettext_noop("updated by the city")
PROPOSED_REASON = gettext_noop("new application from the city, waiting for review (access unchanged)")
PROPOSAL_APPROVED_REASON = gettext_noop("new application approved")
PROPOSAL_REJECTED_REASON = gettext_noop("new application rejected (previous data kept)")
FETCH_PHOTO_TASK = "residents.fetch_photo"
APPLY_CALLS_TASK = "residents.apply_calls"
APPLY_NUDGE_KEY = "residents:apply-calls-queued"


class ReviewError(Exception):
    """The person is not (or no longer) waiting for review."""


class ApplicationConflict(Exception):
    """The application contradicts what we hold; ``field`` is ours (validation's names)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@transaction.atomic
def change_status(
    resident: Resident,
    new_status: str,
    *,
    acting_user: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
) -> ResidentChange:
    """Move ``resident`` to ``new_status`` and record who did it, when, from what and why."""
    locked = Resident.objects.select_for_update().get(pk=resident.pk)
    old_status = locked.status
    locked.status = new_status
    update_fields = ["status", "updated_at"]
    if acting_user is not None:
        locked.reviewed_by, locked.reviewed_at = acting_user, timezone.now()
        update_fields += ["reviewed_by", "reviewed_at"]
    if new_status == Resident.Status.REJECTED:
        locked.reject_reason = reason
        update_fields.append("reject_reason")
    locked.save(update_fields=update_fields)
    resident.refresh_from_db()
    return ResidentChange.objects.create(
        resident=locked, actor=acting_user, actor_label=actor_label,
        from_status=old_status, to_status=new_status, reason=reason,
    )


# --- The admission result (人员登记回调) -------------------------------------------------------------

def enqueue_admission_result(resident: Resident, result: str, reason: str = "", *,
                             ywlsh: str | None = None, owner_id: str | None = None) -> None:
    """Queue the admission result for the city, in the caller's transaction, so that the result is
    sent if and only if the status change is committed. Nothing is queued when the community has no
    callback URL (the manual does not specify the interface; see docs/api/apply-access.md). ``ywlsh``/``owner_id``:
    the application decided when it is not the person's current one (a rejected re-application)."""
    community = resident.community
    ywlsh = resident.ywlsh if ywlsh is None else ywlsh
    if not community.registration_callback_url or not ywlsh:
        return
    record = city_contract.admission_result(
        community_id=community.city_id, ywlsh=ywlsh,
        owner_id=(resident.city_owner_id if owner_id is None else owner_id) or "", result=result, reason=reason,
        decided_at=timezone.now())
    enqueue_record(community=community, endpoint=record.endpoint, fields=record.fields)


@transaction.atomic
def approve_resident(resident: Resident, *, acting_user: AbstractBaseUser) -> ResidentChange:
    return _review(resident, Resident.Status.ACTIVE, acting_user=acting_user, reason="")


@transaction.atomic
def reject_resident(resident: Resident, *, acting_user: AbstractBaseUser, reason: str) -> ResidentChange:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to reject")
    return _review(resident, Resident.Status.REJECTED, acting_user=acting_user, reason=reason)


def _review(resident: Resident, new_status: str, *, acting_user: AbstractBaseUser, reason: str) -> ResidentChange:
    # Locked and re-checked: two guards tapping at once (or a double tap) decide once, and the city
    # gets one result per application.
    locked = Resident.objects.select_for_update().select_related("community").get(pk=resident.pk)
    if locked.status != Resident.Status.PENDING:
        raise ReviewError(locked.status)
    change = change_status(locked, new_status, acting_user=acting_user, reason=reason)
    locked.refresh_from_db()
    enqueue_admission_result(locked, "approved" if new_status == Resident.Status.ACTIVE else "rejected", reason)
    resident.refresh_from_db()
    return change


# --- Receiving a person from the city (apply-access) ---------------------------------------------

@dataclass
class Received:
    resident: Resident
    outcome: str  # ApplyAccessCall.Outcome.STORED or DUPLICATE
    created: bool = False


def _is_duplicate(community: Community, ywlsh: str, known: Known | None = None) -> Resident | None:
    if known is not None:
        answered, resident = known.duplicate(ywlsh)
        if answered:
            return resident
    resident = Resident.objects.filter(community=community, ywlsh=ywlsh).first()
    if resident is not None:
        return resident
    call = (ApplyAccessCall.objects.filter(community=community, ywlsh=ywlsh, resident__isnull=False,
                                           outcome=ApplyAccessCall.Outcome.STORED)
            .select_related("resident").first())
    if call is not None:
        return call.resident
    # A re-application kept as a proposal (its call may have been purged already).
    proposal = (ResidentProposal.objects.filter(resident__community=community, ywlsh=ywlsh)
                .select_related("resident").first())
    return proposal.resident if proposal else None


def _find_existing(community: Community, application: CleanApplication,
                   known: Known | None = None) -> tuple[Resident | None, str | None]:
    """The row this application is about: by ownerId first, else by ID number. Returns the row and
    the ownerId it had before, when it had another one."""
    answered, by_owner, by_card = known.people(application) if known is not None else (False, None, None)
    if not answered:
        by_owner = Resident.objects.select_for_update().filter(community=community,
                                                               city_owner_id=application.owner_id).first()
        id_hash = keyed_hash(application.person.id_card)
        by_card = Resident.objects.select_for_update().filter(community=community, id_card_hash=id_hash).first()
    if by_owner is not None:
        if by_card is not None and by_card.pk != by_owner.pk:
            # The ownerId's person now claims an ID number another person of ours holds: refusing
            # is the only answer that does not merge two people or lose one.
            raise ApplicationConflict("id_card", _("is already registered for another person of this community"))
        return by_owner, None
    if by_card is not None:
        # Same ID number, another (or no) ownerId: the city is authoritative about its own ids,
        # so the person keeps their row and history and takes the new ownerId (see docs/api/apply-access.md).
        return by_card, by_card.city_owner_id
    return None, None


def receive_application(community: Community, application: CleanApplication, *,
                        call: ApplyAccessCall | None = None, known: Known | None = None) -> Received:
    """Store (or update) the person the city registered. Idempotent by ``ywlsh``. The caller holds the
    community's row lock in its transaction (apply_next_batch), so one application of a community is
    applied at a time and the duplicate check and the upsert stay consistent.

    A new application for a person who is active (in a community whose guards review) does not touch
    the person: it becomes a proposal for the guards (_propose_update), so that one call cannot take
    a resident's door access away.

    ``known``: what the batch already read (residents.known); without it every lookup is a query."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("receive_application must run inside the transaction holding the community's lock")
    duplicate = _is_duplicate(community, application.ywlsh, known)
    if duplicate is not None:
        return Received(duplicate, ApplyAccessCall.Outcome.DUPLICATE)

    existing, previous_owner_id = _find_existing(community, application, known)
    person = application.person
    room, room_created = None, False
    if person.person_type in TYPES_WITH_ROOM and person.seven_segment is not None:
        room, room_created = (known.room(person.seven_segment) if known is not None
                              else resolve_room(community, person.seven_segment, create=True))
    fields = _application_fields(application, room)
    if existing is not None and existing.status == Resident.Status.ACTIVE and community.requires_guard_review:
        return _propose_update(existing, fields, call=call, room_created=room_created,
                               previous_owner_id=previous_owner_id)
    new_status = Resident.Status.PENDING if community.requires_guard_review else Resident.Status.ACTIVE

    resident = existing or Resident(community=community)
    old_status = resident.status if existing else ""
    before = _snapshot(resident) if existing else {}
    _write_fields(resident, fields)
    resident.status, resident.reviewed_by, resident.reviewed_at, resident.reject_reason = new_status, None, None, ""
    resident.save()
    if existing is not None:
        # This application replaces any proposal still waiting (the person is not active any more).
        _supersede_proposals(resident)

    details = {"ywlsh": application.ywlsh, "room_created": room_created}
    if existing:
        details["changed"] = sorted(k for k, v in _snapshot(resident).items() if before.get(k) != v)
        if previous_owner_id != application.owner_id and previous_owner_id is not None:
            details["previous_owner_id"] = previous_owner_id
    ResidentChange.objects.create(
        resident=resident, actor_label=CITY_ACTOR, from_status=old_status, to_status=new_status,
        reason=UPDATED_REASON if existing else REGISTERED_REASON, details=details)
    if new_status == Resident.Status.ACTIVE:
        enqueue_admission_result(resident, "approved", "")
    resident_id = resident.pk
    transaction.on_commit(lambda: nudge_photo_fetch(resident_id))
    return Received(resident, ApplyAccessCall.Outcome.STORED, created=existing is None)


# What an application sets on a person, as JSON-able values: written at once (_write_fields) or kept
# encrypted in a ResidentProposal until a guard decides.
def _application_fields(application: CleanApplication, room: Room | None) -> dict:
    person = application.person
    return {
        "name": person.name, "id_card": person.id_card, "phone": person.phone, "sex": person.sex,
        "person_type": person.person_type, "room_id": room.pk if room is not None else None,
        "address": person.address,
        "valid_from": person.valid_from.isoformat() if person.valid_from else None,
        "valid_until": person.valid_until.isoformat() if person.valid_until else None,
        "city_owner_id": application.owner_id, "ywlsh": application.ywlsh, "source": application.source,
        "photo_url": application.photo_url,
    }


def _write_fields(resident: Resident, fields: dict) -> None:
    """Set ``fields`` on ``resident`` (not saved). The photo is fetched again, as for every application;
    an approved photo stays until the new one is stored (store_photo)."""
    resident.name, resident.id_card, resident.phone = fields["name"], fields["id_card"], fields["phone"]
    resident.sex, resident.person_type, resident.room_id = fields["sex"], fields["person_type"], fields["room_id"]
    resident.address = fields["address"]
    resident.valid_from = dt.datetime.fromisoformat(fields["valid_from"]) if fields["valid_from"] else None
    resident.valid_until = dt.datetime.fromisoformat(fields["valid_until"]) if fields["valid_until"] else None
    resident.city_owner_id, resident.ywlsh, resident.source = fields["city_owner_id"], fields["ywlsh"], fields["source"]
    resident.photo_url, resident.photo_status, resident.photo_error = (
        fields["photo_url"], Resident.PhotoStatus.PENDING, "")


def _supersede_proposals(resident: Resident) -> None:
    ResidentProposal.objects.filter(resident=resident, status=ResidentProposal.Status.PENDING).update(
        status=ResidentProposal.Status.SUPERSEDED, decided_at=timezone.now())


def _propose_update(resident: Resident, fields: dict, *, call: ApplyAccessCall | None, room_created: bool,
                    previous_owner_id: str | None) -> Received:
    """Keep the application as a proposal: the person, their status and their approved data are not
    touched (they stay on the face lists); a still-pending proposal is replaced by this one."""
    _supersede_proposals(resident)
    proposal = ResidentProposal.objects.create(resident=resident, call=call, ywlsh=fields["ywlsh"],
                                               data=json.dumps(fields, ensure_ascii=False))
    details = {"ywlsh": fields["ywlsh"], "room_created": room_created, "proposal": proposal.pk,
               "changed": sorted(row.field for row in proposal_rows(resident, proposal) if row.changed)}
    if previous_owner_id is not None and previous_owner_id != fields["city_owner_id"]:
        details["previous_owner_id"] = previous_owner_id
    ResidentChange.objects.create(resident=resident, actor_label=CITY_ACTOR, from_status=resident.status,
                                  to_status=resident.status, reason=PROPOSED_REASON, details=details)
    return Received(resident, ApplyAccessCall.Outcome.STORED)


@dataclass
class ProposalRow:
    """One line of the guard's old/new comparison; ID numbers and phones masked as elsewhere."""
    field: str
    label: str
    old: str
    new: str
    changed: bool


def proposal_rows(resident: Resident, proposal: ResidentProposal) -> list[ProposalRow]:
    from afxq_portal.pii import mask_id_card, mask_phone
    from communities.models import Room

    from .models import PersonType, Sex, Source

    new = proposal.fields
    proposed = Resident(community=resident.community)
    _write_fields(proposed, new)
    proposed.room = Room.objects.filter(pk=new["room_id"]).select_related("building").first() if new["room_id"] else None

    def place(r: Resident) -> str:
        return str(r.room) if r.room_id and r.room else r.address

    def valid(r: Resident) -> str:
        if not (r.valid_from or r.valid_until):
            return _("long-term")
        def fmt(v) -> str:
            return timezone.localtime(v).strftime("%Y-%m-%d %H:%M") if v else "…"
        return f"{fmt(r.valid_from)} – {fmt(r.valid_until)}"

    def label_of(choices, value: str) -> str:
        return str(choices(value).label) if value in choices.values else value

    rows = [
        ("name", _("Name"), resident.name, proposed.name, resident.name != proposed.name),
        ("id_card", _("ID card"), mask_id_card(resident.id_card), mask_id_card(proposed.id_card),
         resident.id_card_hash != keyed_hash(proposed.id_card or "")),
        ("phone", _("Phone"), mask_phone(resident.phone), mask_phone(proposed.phone),
         keyed_hash(resident.phone or "") != keyed_hash(proposed.phone or "")),
        ("sex", _("Sex"), label_of(Sex, resident.sex), label_of(Sex, proposed.sex), resident.sex != proposed.sex),
        ("person_type", _("Type"), label_of(PersonType, resident.person_type),
         label_of(PersonType, proposed.person_type), resident.person_type != proposed.person_type),
        ("room", _("Room"), place(resident), place(proposed),
         resident.room_id != proposed.room_id or resident.address != proposed.address),
        ("valid", _("Valid"), valid(resident), valid(proposed),
         (resident.valid_from, resident.valid_until) != (proposed.valid_from, proposed.valid_until)),
        ("source", _("Source"), label_of(Source, resident.source), label_of(Source, proposed.source),
         resident.source != proposed.source),
        ("photo", _("Photo"), _("current photo"),
         _("new photo (fetched once approved)") if resident.photo_url != proposed.photo_url else _("current photo"),
         resident.photo_url != proposed.photo_url),
    ]
    return [ProposalRow(*row) for row in rows]


def pending_proposal(resident: Resident) -> ResidentProposal | None:
    if resident.status != Resident.Status.ACTIVE:
        return None  # no longer active: a guard cannot approve a change to access that ended
    return resident.proposals.filter(status=ResidentProposal.Status.PENDING).first()


def _lock_proposal(proposal: ResidentProposal) -> tuple[Resident, ResidentProposal]:
    # Locked and re-checked like _review: two guards tapping at once decide once.
    resident = Resident.objects.select_for_update().select_related("community").get(pk=proposal.resident_id)
    locked = ResidentProposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ResidentProposal.Status.PENDING:
        raise ReviewError(locked.status)
    if resident.status != Resident.Status.ACTIVE:
        raise ReviewError(resident.status)
    return resident, locked


@transaction.atomic
def do_approve_proposal(proposal: ResidentProposal, *, acting_user: AbstractBaseUser) -> ResidentChange:
    """Apply the proposed data to the (still active) person, with a history row and the city's
    admission result, as an approval does."""
    resident, locked = _lock_proposal(proposal)
    fields = locked.fields
    others = Resident.objects.filter(community=resident.community).exclude(pk=resident.pk)
    # Checked here, not left to the unique constraints: someone else may have taken the ID number or
    # the ownerId since the application arrived.
    if others.filter(id_card_hash=keyed_hash(fields["id_card"])).exists():
        raise ApplicationConflict("id_card", _("is already registered for another person of this community"))
    if others.filter(city_owner_id=fields["city_owner_id"]).exists():
        raise ApplicationConflict("ownerId", _("is already registered for another person of this community"))
    changed = [row.field for row in proposal_rows(resident, locked) if row.changed]
    _write_fields(resident, fields)
    resident.reviewed_by, resident.reviewed_at = acting_user, timezone.now()
    resident.save()
    locked.status, locked.decided_by, locked.decided_at = ResidentProposal.Status.APPROVED, acting_user, timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    change = ResidentChange.objects.create(
        resident=resident, actor=acting_user, from_status=resident.status, to_status=resident.status,
        reason=PROPOSAL_APPROVED_REASON, details={"ywlsh": locked.ywlsh, "proposal": locked.pk, "changed": changed})
    enqueue_admission_result(resident, "approved", "")
    resident_id = resident.pk
    transaction.on_commit(lambda: nudge_photo_fetch(resident_id))
    proposal.refresh_from_db()
    return change


@transaction.atomic
def do_reject_proposal(proposal: ResidentProposal, *, acting_user: AbstractBaseUser, reason: str) -> ResidentChange:
    """Keep the person as approved; the city hears that this application (its ywlsh) was rejected."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to reject")
    resident, locked = _lock_proposal(proposal)
    locked.status, locked.decided_by, locked.decided_at = ResidentProposal.Status.REJECTED, acting_user, timezone.now()
    locked.reject_reason = reason[:200]
    locked.save(update_fields=["status", "decided_by", "decided_at", "reject_reason"])
    change = ResidentChange.objects.create(
        resident=resident, actor=acting_user, from_status=resident.status, to_status=resident.status,
        reason=PROPOSAL_REJECTED_REASON, details={"ywlsh": locked.ywlsh, "proposal": locked.pk,
                                                  "reject_reason": reason[:200]})
    enqueue_admission_result(resident, "rejected", reason, ywlsh=locked.ywlsh,
                             owner_id=locked.fields["city_owner_id"])
    proposal.refresh_from_db()
    return change


# --- Applying accepted calls (the worker's half of apply-access) -----------------------------------

class OncePerInterval:
    """Says yes at most once per interval, in this process (time.monotonic())."""

    def __init__(self) -> None:
        self.last = -math.inf

    def ready(self, interval: float) -> bool:
        now = time.monotonic()
        if now - self.last < interval:
            return False
        self.last = now
        return True


# When this process last asked for the task; see nudge_apply_calls.
apply_nudges = OncePerInterval()


def nudge_apply_calls() -> None:
    """Ask a worker to apply the accepted calls: at most once per APPLY_ACCESS_NUDGE_INTERVAL_SECONDS
    from each process, and at most one queued task at a time.

    Why nothing is left behind, with no Redis round trip on most calls: a call accepted within the
    interval after this process's last ask is covered by the task that ask queued (or found queued),
    because that task starts after the ask and does not finish before it has run for the interval and
    then found nothing to apply (apply_accepted_calls' ``linger_seconds``). Best effort: the beat sweep
    (residents-apply-calls) applies whatever a lost task left behind."""
    if apply_nudges.ready(settings.APPLY_ACCESS_NUDGE_INTERVAL_SECONDS):
        queue_apply_task()


def queue_apply_task() -> None:
    """Queue ``residents.apply_calls`` unless one is queued and not started yet: the key is set when a
    task is queued and deleted by the task when it starts. Without a shared cache (no REDIS_URL: the
    laptop's local-memory cache) the worker cannot clear the web's key, so every ask queues a task."""
    debounce = settings.APPLY_ACCESS_NUDGE_DEBOUNCE
    try:
        if debounce and not cache.add(APPLY_NUDGE_KEY, 1, timeout=settings.APPLY_ACCESS_NUDGE_TTL_SECONDS):
            return
    except Exception:  # the cache is down: queue the task all the same
        logger.warning("could not debounce the application of accepted apply-access calls", exc_info=True)
    # The broker down: the sweep will find the calls.
    if not start_task(APPLY_CALLS_TASK, what="the application of accepted apply-access calls") and debounce:
        _forget_nudge()


def _forget_nudge() -> None:
    try:
        cache.delete(APPLY_NUDGE_KEY)
    except Exception:
        logger.warning("could not clear the apply-access nudge key", exc_info=True)


def apply_accepted_calls(*, budget_seconds: float | None = None, batch_size: int | None = None,
                         linger_seconds: float = 0.0) -> int:
    """Apply accepted apply-access calls, a community at a time, oldest first, until none is left or
    the budget is spent (then the next task is queued). Returns how many were applied.

    Workers share the queue: each batch holds its community's row lock (skip_locked), so two workers
    take different communities, and one community's calls are applied one after the other in the
    order they arrived (an update never overtakes the registration it updates). The task lingers:
    it returns only after it has run ``linger_seconds`` and then found nothing (see nudge_apply_calls)."""
    started = time.monotonic()
    _forget_nudge()
    budget = settings.APPLY_ACCESS_APPLY_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    size = batch_size or settings.APPLY_ACCESS_APPLY_BATCH
    applied = 0
    with translation.override(settings.LANGUAGE_CODE):  # problems read like the envelope's messages
        _refuse_calls_of_deleted_communities()
        while True:
            done = apply_next_batch(size)
            applied += done
            elapsed = time.monotonic() - started
            if done and elapsed > budget:
                queue_apply_task()
                return applied
            if not done:
                if elapsed >= linger_seconds:
                    return applied
                time.sleep(min(linger_seconds - elapsed, 0.1))


def stalled_accepted_calls(calls: QuerySet[ApplyAccessCall] | None = None, *,
                           now: dt.datetime | None = None) -> tuple[int, int] | None:
    """(how many, age in seconds of the oldest) of the accepted calls older than
    APPLY_ACCESS_STALLED_AFTER_SECONDS among ``calls`` (a queryset, e.g. a user's scope), or None."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.APPLY_ACCESS_STALLED_AFTER_SECONDS)
    queryset = ApplyAccessCall.objects.all() if calls is None else calls
    stalled = queryset.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED, received_at__lt=cutoff)
    oldest = stalled.order_by("received_at").values_list("received_at", flat=True).first()
    if oldest is None:
        return None
    return stalled.count(), int((now - oldest).total_seconds())


def apply_next_batch(batch_size: int) -> int:
    """Claim the community whose accepted call is the oldest (and that no other worker holds) and
    apply up to ``batch_size`` of its calls in one transaction."""
    with transaction.atomic():
        community = _claim_next_community()
        if community is None:
            return 0
        calls = list(ApplyAccessCall.objects.filter(community=community, outcome=ApplyAccessCall.Outcome.ACCEPTED)
                     .order_by("pk")[:batch_size])
        read = [_read_call(call, community) for call in calls]
        known = Known.load(community, [application for application, _problems in read if application is not None])
        for call, application_read in zip(calls, read, strict=True):
            _apply_call(call, community, application_read, known)
        # One UPDATE for the batch's outcomes, in its transaction.
        ApplyAccessCall.objects.bulk_update(calls, ["resident", "outcome", "problem", "applied_at"])
        return len(calls)


ReadCall = tuple[CleanApplication | None, list[FieldProblem]] | Exception


def _read_call(call: ApplyAccessCall, community: Community) -> ReadCall:
    """The call's application (or its problems), checked once against the community as it is now: before the
    batch's lookups, which it names. An error is kept for _apply_call to record, as for an error while storing."""
    try:
        return read_application(community, json.loads(call.body))
    except Exception as exc:
        return exc


def _claim_next_community() -> Community | None:
    waiting = (ApplyAccessCall.objects.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED, community__isnull=False)
               .values("community_id").annotate(oldest=Min("pk")).order_by("oldest")[:50])
    for row in waiting:
        # FOR NO KEY UPDATE: it excludes another applier but not the FOR KEY SHARE lock of an insert that
        # references the community (the web's accepted calls, device events), which FOR UPDATE would block.
        community = (Community.objects.select_for_update(skip_locked=True, no_key=True)
                     .filter(pk=row["community_id"]).first())
        if community is not None:
            return community
    return None


def _apply_call(call: ApplyAccessCall, community: Community, read: ReadCall, known: Known) -> None:
    """Apply one call of the batch; its outcome is set on ``call`` (saved with the batch's)."""
    received, problems = None, []
    try:
        if isinstance(read, Exception):
            raise read
        application, problems = read
        # Problems only when what we hold changed since the answer (the community's address, say).
        if not problems:
            with transaction.atomic():  # a savepoint: one call's failure does not undo the batch
                received = receive_application(community, application, call=call, known=known)
            known.stored(application.ywlsh, received.resident)
    except ApplicationConflict as exc:
        problems = [FieldProblem(exc.field, exc.message)]
    except Exception as exc:
        if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
            raise  # the database is in trouble: the whole batch is retried by the next task
        logger.exception("apply-access call %s could not be applied", call.pk)
        known.trusted = False  # its rolled-back savepoint may have changed objects the batch holds
    if received is not None:
        call.resident, call.outcome, call.problem = received.resident, received.outcome, ""
    elif problems:
        call.outcome, call.problem = ApplyAccessCall.Outcome.REFUSED, format_problems(problems)[:300]
    else:
        call.outcome, call.problem = ApplyAccessCall.Outcome.ERROR, _("internal error")
    call.applied_at = timezone.now()
    level = logging.INFO if received is not None else logging.WARNING
    call_logger.log(level, "apply-access call=%s ywlsh=%s community=%s applied: outcome=%s%s", call.pk,
                    call.ywlsh or "-", community.city_id, call.outcome,
                    f" problem={mask_text(call.problem)}" if call.problem else "")


def _refuse_calls_of_deleted_communities() -> None:
    # A community deleted after it accepted calls: they can never be applied (and must not wait forever).
    ApplyAccessCall.objects.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED, community__isnull=True).update(
        outcome=ApplyAccessCall.Outcome.REFUSED, problem=_("the community was deleted"),
        applied_at=timezone.now())


def _snapshot(resident: Resident) -> dict[str, str]:
    """Comparable values of what an update may change; no ID number or phone in clear (the history
    names the fields that changed, not their values)."""
    return {
        "name": resident.name, "id_card": resident.id_card_hash if resident.pk else "",
        "phone": keyed_hash(resident.phone or ""), "sex": resident.sex, "person_type": resident.person_type,
        "room": str(resident.room_id), "valid_from": str(resident.valid_from), "valid_until": str(resident.valid_until),
        "photo_url": resident.photo_url, "source": resident.source,
    }


# --- Photos ----------------------------------------------------------------------------------------

def nudge_photo_fetch(resident_id: int) -> None:
    """Ask a worker to fetch the photo. Best effort: the expiry sweep re-nudges stuck fetches."""
    start_task(FETCH_PHOTO_TASK, resident_id, what=f"the photo fetch of resident {resident_id}")


@transaction.atomic
def store_photo(resident_id: int, url: str, jpeg: bytes) -> bool:
    """Keep the fetched photo, unless the person has been given another photo URL meanwhile."""
    resident = Resident.objects.select_for_update().filter(pk=resident_id).first()
    if resident is None or resident.photo_url != url:
        return False
    old_name = resident.photo.name if resident.photo else ""
    resident.photo.save(f"{uuid.uuid4().hex}.jpg", ContentFile(jpeg), save=False)
    resident.photo_status, resident.photo_error = Resident.PhotoStatus.OK, ""
    resident.save(update_fields=["photo", "photo_status", "photo_error", "updated_at"])
    if old_name:
        storage = resident.photo.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return True


@transaction.atomic
def mark_photo_failed(resident_id: int, url: str, problem: str) -> bool:
    updated = Resident.objects.filter(pk=resident_id, photo_url=url).update(
        photo_status=Resident.PhotoStatus.FAILED, photo_error=problem[:200], updated_at=timezone.now())
    return bool(updated)


# --- Expiry ----------------------------------------------------------------------------------------

def expire_residents(*, now: dt.datetime | None = None) -> int:
    """People whose validity end has passed become expired (with a history row each)."""
    now = now or timezone.now()
    due = Resident.objects.filter(status__in=[Resident.Status.ACTIVE, Resident.Status.PENDING],
                                  valid_until__lt=now).values_list("pk", flat=True)
    count = 0
    for pk in list(due):
        with transaction.atomic():
            locked = Resident.objects.select_for_update().filter(
                pk=pk, status__in=[Resident.Status.ACTIVE, Resident.Status.PENDING], valid_until__lt=now).first()
            if locked is None:
                continue
            change_status(locked, Resident.Status.EXPIRED, actor_label=SYSTEM_EXPIRY_ACTOR)
            count += 1
    return count


def purge_apply_access_calls(*, now: dt.datetime | None = None) -> int:
    """Stored calls hold personal data (encrypted): kept for a while for disputes, then deleted."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.APPLY_ACCESS_CALL_RETENTION_DAYS)
    deleted, _ = ApplyAccessCall.objects.filter(received_at__lt=cutoff).delete()
    return deleted


PHOTO_RETENTION_REASON = gettext_noop("photo deleted: no longer needed (rejected or expired)")


def purge_stale_photos(*, now: dt.datetime | None = None) -> int:
    """A face photo is sensitive personal data kept for admission and the face panels: once a person
    is rejected or expired for RESIDENT_PHOTO_RETENTION_DAYS, the photo is deleted (the row and its
    history stay; a new application from the city fetches a new photo)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.RESIDENT_PHOTO_RETENTION_DAYS)
    due = (Resident.objects.filter(status__in=[Resident.Status.REJECTED, Resident.Status.EXPIRED],
                                   updated_at__lt=cutoff).exclude(photo="").values_list("pk", flat=True))
    count = 0
    for pk in list(due[:1000]):
        with transaction.atomic():
            resident = Resident.objects.select_for_update().filter(
                pk=pk, status__in=[Resident.Status.REJECTED, Resident.Status.EXPIRED], updated_at__lt=cutoff,
            ).exclude(photo="").first()
            if resident is None:
                continue
            name, storage = resident.photo.name, resident.photo.storage
            resident.photo, resident.photo_status = "", Resident.PhotoStatus.NONE
            resident.save(update_fields=["photo", "photo_status", "updated_at"])
            ResidentChange.objects.create(resident=resident, actor_label=SYSTEM_RETENTION_ACTOR,
                                          from_status=resident.status, to_status=resident.status,
                                          reason=PHOTO_RETENTION_REASON)
            transaction.on_commit(lambda name=name, storage=storage: storage.delete(name))
            count += 1
    return count


def stuck_photo_fetches(*, older_than_seconds: int = 3600) -> list[int]:
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    return list(Resident.objects.filter(photo_status=Resident.PhotoStatus.PENDING, updated_at__lt=cutoff)
                .values_list("pk", flat=True)[:500])
