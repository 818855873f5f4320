"""Converge, don't command: each terminal is made to hold exactly the residents who may open its door.

``plan`` refreshes the desired columns of a terminal's TerminalMember rows from the residents (a few queries for
the whole community); ``reconcile_terminal`` claims the terminal (one guarded UPDATE, so any number of workers
share the terminals and each terminal has one worker at a time), reads back what it holds when that is needed
(``resync``), then makes every due difference good: absent → add, then the face; a changed name or window →
update; a changed photo → the face again; no longer allowed → delete (in batches). A refusal is kept with the
terminal's reason until the desired state changes or staff retry; anything else is retried with backoff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from afxq_portal.celery_app import start_task
from devices.faces import must_recognise
from residents.models import Resident

from .models import Terminal, TerminalMember
from .people import employee_no_of, face_jpeg, window
from .registry import driver_of
from .vendors.base import TerminalDriver, TerminalError, TerminalPerson

log = logging.getLogger(__name__)
Status = TerminalMember.Status

DELETE_BATCH = 50
# Rounds of plan-and-converge in one task: a resident changed while the terminal was claimed is planned in the
# next round instead of waiting for the sweep.
MAX_ROUNDS = 3
DESIRED = ("present", "name", "valid_from", "valid_to", "face_source")


class Unreachable(Exception):
    """A call failed for a reason that is not the person's (offline, timeout, a reboot): stop this terminal."""


def nudge(terminal_ids: Iterable[int]) -> None:
    """Reconcile these terminals soon: after the current transaction commits (the task must see its changes)."""
    ids = sorted(set(terminal_ids))
    if ids:
        transaction.on_commit(lambda: [start_task("terminals.reconcile_terminal", pk, what=f"terminal {pk}")
                                       for pk in ids])


def terminals_of_resident(resident_id: int, community_id: int | None) -> list[int]:
    """The terminals that hold or should hold this resident: their community's, and any that has their row
    (a resident moved to another community is removed there)."""
    query = Q(members__resident_id=resident_id)
    if community_id is not None:
        query |= Q(point__community_id=community_id)
    return list(Terminal.objects.filter(query, sync_enabled=True).values_list("pk", flat=True).distinct())


def converged(member: TerminalMember) -> bool:
    if not member.present:
        return not member.seen_present
    return (member.seen_present and member.seen_name == member.name and member.seen_valid_from == member.valid_from
            and member.seen_valid_to == member.valid_to and bool(member.face_sha256)
            and member.seen_face_sha256 == member.face_sha256)


def to_do(member: TerminalMember) -> None:
    """The desired state changed (or staff retry): due now, a refusal forgotten."""
    if converged(member):
        member.status = Status.IN_SYNC
    else:
        member.status, member.attempts, member.next_attempt_at = Status.PENDING, 0, None
    member.refusal_code = member.refusal_reason = ""


def plan(terminal: Terminal, now: datetime | None = None) -> int:
    """Refresh the desired columns of every member of ``terminal``; returns how many rows changed."""
    now = now or timezone.now()
    residents = must_recognise(Resident.objects.filter(community_id=terminal.point.community_id), now)
    desired = {pk: {"present": True, "name": name, "valid_from": window(vf, vu)[0], "valid_to": window(vf, vu)[1],
                    "face_source": photo}
               for pk, name, vf, vu, photo in residents.values_list("pk", "name", "valid_from", "valid_until", "photo")}
    members = {m.resident_id: m for m in TerminalMember.objects.filter(terminal=terminal)}
    new, changed = [], []
    for pk, values in desired.items():
        member = members.get(pk)
        if member is None:
            member = TerminalMember(terminal=terminal, resident_id=pk, employee_no=employee_no_of(pk), **values)
            to_do(member)
            new.append(member)
        elif any(getattr(member, name) != value for name, value in values.items()):
            if member.face_source != values["face_source"]:
                member.face_sha256 = ""  # made again from the new photo when it is sent
            for name, value in values.items():
                setattr(member, name, value)
            to_do(member)
            changed.append(member)
    for pk, member in members.items():
        if pk not in desired and member.present:
            member.present = False
            to_do(member)
            changed.append(member)
    TerminalMember.objects.bulk_create(new, batch_size=500)
    TerminalMember.objects.bulk_update(changed, [*DESIRED, "face_sha256", "status", "attempts", "next_attempt_at",
                                                 "refusal_code", "refusal_reason", "updated_at"], batch_size=500)
    return len(new) + len(changed)


def claim(terminal_id: int) -> bool:
    now = timezone.now()
    return bool(Terminal.objects.filter(pk=terminal_id).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                .update(claimed_until=now + timedelta(seconds=settings.TERMINAL_CLAIM_SECONDS)))


def release(terminal_id: int) -> None:
    Terminal.objects.filter(pk=terminal_id).update(claimed_until=None)


def backoff_seconds(attempts: int) -> float:
    """Exponential, capped, with jitter (half to all of it), like the outbox's."""
    ceiling = min(settings.TERMINAL_RETRY_MAX_SECONDS, settings.TERMINAL_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


def person_of(member: TerminalMember, terminal: Terminal) -> TerminalPerson:
    return TerminalPerson(employee_no=member.employee_no, name=member.name, valid_from=member.valid_from,
                          valid_to=member.valid_to, door=terminal.door)


def saw_person(member: TerminalMember) -> None:
    member.seen_present, member.seen_name = True, member.name
    member.seen_valid_from, member.seen_valid_to = member.valid_from, member.valid_to


def saw_absent(member: TerminalMember) -> None:
    member.seen_present, member.seen_name, member.seen_face_sha256 = False, "", ""
    member.seen_valid_from = member.seen_valid_to = None


def failed(member: TerminalMember, exc: TerminalError) -> None:
    if exc.permanent:
        member.status, member.next_attempt_at = Status.REFUSED, None
        member.refusal_code, member.refusal_reason = exc.code, exc.reason[:300]
    else:
        member.attempts += 1
        member.status = Status.RETRYING
        member.next_attempt_at = timezone.now() + timedelta(seconds=backoff_seconds(member.attempts))
        member.refusal_code, member.refusal_reason = "", exc.reason[:300]


def succeeded(member: TerminalMember) -> None:
    member.status = Status.IN_SYNC if converged(member) else Status.PENDING
    member.attempts, member.next_attempt_at, member.refusal_code, member.refusal_reason = 0, None, "", ""


def save(member: TerminalMember) -> None:
    member.save(update_fields=["seen_present", "seen_name", "seen_valid_from", "seen_valid_to", "seen_face_sha256",
                               "face_sha256", "status", "refusal_code", "refusal_reason", "attempts",
                               "next_attempt_at", "updated_at"])


def photo_bytes(resident_id: int) -> bytes:
    resident = Resident.objects.filter(pk=resident_id).only("photo").first()
    if resident is None or not resident.photo:
        raise TerminalError("no photo", permanent=False)  # deleted meanwhile: the next plan removes them
    with resident.photo.open("rb") as handle:
        return handle.read()


def converge_member(member: TerminalMember, terminal: Terminal, driver: TerminalDriver) -> None:
    """Make one present member's person and face on the terminal match; raises Unreachable on a transient error
    (after recording it), so the caller stops calling this terminal."""
    try:
        person = person_of(member, terminal)
        if not member.seen_present:
            driver.add_person(person)
            saw_person(member)
            member.seen_face_sha256 = ""
        elif (member.seen_name, member.seen_valid_from, member.seen_valid_to) != (
                member.name, member.valid_from, member.valid_to):
            driver.update_person(person)
            saw_person(member)
        if not member.face_sha256 or member.face_sha256 != member.seen_face_sha256:
            jpeg, digest = face_jpeg(photo_bytes(member.resident_id), driver.face_max_bytes, driver.face_min_size)
            member.face_sha256 = digest
            if digest != member.seen_face_sha256:
                driver.set_face(member.employee_no, jpeg)
                member.seen_face_sha256 = digest
        succeeded(member)
    except TerminalError as exc:
        if exc.code == "not_found":
            # The terminal lost someone we saw there (reset, or emptied by hand): read it again, then retry.
            Terminal.objects.filter(pk=terminal.pk).update(resync_needed=True)
            member.status, member.next_attempt_at, member.refusal_reason = Status.PENDING, None, exc.reason[:300]
            return
        failed(member, exc)
        if not exc.permanent:
            raise Unreachable(exc.reason) from exc
    finally:
        save(member)


def delete_absent(members: list[TerminalMember], driver: TerminalDriver) -> None:
    for start in range(0, len(members), DELETE_BATCH):
        batch = members[start:start + DELETE_BATCH]
        try:
            driver.delete_people([m.employee_no for m in batch])
        except TerminalError as exc:
            for member in batch:
                failed(member, exc)
                save(member)
            if not exc.permanent:
                raise Unreachable(exc.reason) from exc
            continue
        for member in batch:
            saw_absent(member)
            succeeded(member)
            save(member)


def due_members(terminal: Terminal, now: datetime) -> QuerySet[TerminalMember]:
    return (TerminalMember.objects.filter(terminal=terminal, status__in=[Status.PENDING, Status.RETRYING])
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).order_by("pk"))


class OutOfTime(Exception):
    """This task's budget (TERMINAL_RECONCILE_BUDGET_SECONDS) is spent: another task goes on where it stopped."""


def converge(terminal: Terminal, driver: TerminalDriver, deadline: float | None = None) -> int:
    """Every due difference of ``terminal``; returns how many members were worked on. Past ``deadline``
    (time.monotonic) raises OutOfTime between two people: what was done is saved."""
    due = list(due_members(terminal, timezone.now()))
    gone = [m for m in due if not m.present and m.seen_present]
    for member in due:
        if not member.present and not member.seen_present:
            succeeded(member)
            save(member)
    delete_absent(gone, driver)
    present = [m for m in due if m.present]
    for number, member in enumerate(present):
        # At least one person per task, so that a slow re-read before them never stalls the terminal.
        if number and deadline is not None and time.monotonic() > deadline:
            raise OutOfTime
        converge_member(member, terminal, driver)
    return len(due)


def resync(terminal: Terminal, driver: TerminalDriver) -> None:
    """Read what the terminal holds and set the observed columns from it: ours missing are added again, faces
    missing sent again, people who should not be there (not ours, or no longer allowed) deleted."""
    held = {person.employee_no: person for person in driver.list_people()}
    members = {m.employee_no: m for m in TerminalMember.objects.filter(terminal=terminal)}
    strangers = [no for no in held if no not in members or not members[no].present]
    changed = []
    for no, member in members.items():
        person = held.get(no)
        before = (member.seen_present, member.seen_name, member.seen_valid_from, member.seen_valid_to,
                  member.seen_face_sha256)
        if person is None:
            saw_absent(member)
        else:
            member.seen_present, member.seen_name = True, person.name
            member.seen_valid_from, member.seen_valid_to = person.valid_from, person.valid_to
            # The terminal says whether it holds a face, not which: one we sent is trusted, any other re-sent.
            if not person.has_face:
                member.seen_face_sha256 = ""
        after = (member.seen_present, member.seen_name, member.seen_valid_from, member.seen_valid_to,
                 member.seen_face_sha256)
        if after != before:
            if converged(member):
                member.status = Status.IN_SYNC
            elif member.status != Status.REFUSED:
                member.status, member.attempts, member.next_attempt_at = Status.PENDING, 0, None
            changed.append(member)
    TerminalMember.objects.bulk_update(changed, ["seen_present", "seen_name", "seen_valid_from", "seen_valid_to",
                                                 "seen_face_sha256", "status", "attempts", "next_attempt_at",
                                                 "updated_at"], batch_size=500)
    for start in range(0, len(strangers), DELETE_BATCH):
        driver.delete_people(strangers[start:start + DELETE_BATCH])
    for no in strangers:
        if no in members:
            saw_absent(members[no])
            succeeded(members[no])
            save(members[no])
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=False, last_resync_at=timezone.now())
    log.info("terminal %s re-read: %d held, %d corrected, %d removed", terminal.pk, len(held), len(changed),
             len(strangers))


def resync_due(terminal: Terminal, now: datetime) -> bool:
    return terminal.resync_needed or terminal.last_resync_at is None or (
        now - terminal.last_resync_at > timedelta(seconds=settings.TERMINAL_RESYNC_SECONDS))


def mark_unreachable(terminal_id: int, error: str) -> None:
    now = timezone.now()
    Terminal.objects.filter(pk=terminal_id).update(online=False, last_error=error[:300])
    Terminal.objects.filter(pk=terminal_id, offline_since__isnull=True).update(offline_since=now)


def reconcile_terminal(terminal_id: int) -> str:
    """One terminal, if no other worker has it. Returns what happened (for the task's log)."""
    if not claim(terminal_id):
        return "busy"
    try:
        terminal = Terminal.objects.select_related("point").filter(pk=terminal_id).first()
        if terminal is None or not terminal.sync_enabled:
            return "disabled"
        worked = 0
        # A first sync of a large community is several tasks in turn, each well within Celery's time limit.
        deadline = time.monotonic() + settings.TERMINAL_RECONCILE_BUDGET_SECONDS
        try:
            with driver_of(terminal) as driver:
                for _round in range(MAX_ROUNDS):
                    terminal.refresh_from_db(fields=["resync_needed", "last_resync_at"])
                    if resync_due(terminal, timezone.now()):
                        resync(terminal, driver)
                    planned = plan(terminal)
                    done = converge(terminal, driver, deadline)
                    worked += done
                    if not planned and not done:
                        break
        except OutOfTime:
            release(terminal_id)
            start_task("terminals.reconcile_terminal", terminal_id, what=f"terminal {terminal_id}")
            return "to be continued"
        except (Unreachable, TerminalError) as exc:
            reason = exc.reason if isinstance(exc, TerminalError) else str(exc)
            log.warning("terminal %s: %s", terminal_id, reason)
            mark_unreachable(terminal_id, reason)
            return "unreachable"
        return f"converged {worked}"
    finally:
        release(terminal_id)


def retry_members(members: QuerySet[TerminalMember], *, acting_user: AbstractBaseUser | None) -> int:
    """Staff retry: the refused and retrying members due now, as if new; their terminals reconciled."""
    with transaction.atomic():
        rows = list(members.filter(status__in=[Status.REFUSED, Status.RETRYING]).values_list("pk", "terminal_id"))
        count = TerminalMember.objects.filter(pk__in=[pk for pk, _t in rows]).update(
            status=Status.PENDING, attempts=0, next_attempt_at=None, refusal_code="", refusal_reason="",
            updated_at=timezone.now())
        nudge({terminal for _pk, terminal in rows})
    log.info("%s retried %d people on terminals", acting_user, count)
    return count
