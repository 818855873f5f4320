"""The reconciler: what should be on a terminal (plan), making it so (add, face, update, delete), refusals with
the terminal's reason, backoff, and the re-read that corrects only the difference."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from residents.models import Resident
from terminals import reconcile
from terminals.models import Terminal, TerminalMember
from terminals.people import employee_no_of
from terminals.vendors.base import TerminalError, TerminalPerson
from tests.factories import ResidentFactory
from tests.terminal_fake import fake
from tests.terminal_helpers import make_terminal, resident_with_photo, with_photo

pytestmark = pytest.mark.django_db
Status = TerminalMember.Status


@pytest.fixture
def terminal(community_a, fake_vendor):
    return make_terminal(community_a)


def test_it_plans_who_should_be_on_the_terminal(terminal, community_a, community_b):
    ok = resident_with_photo(community_a)
    resident_with_photo(community_a, status=Resident.Status.PENDING)
    ResidentFactory(community=community_a)  # no photo
    resident_with_photo(community_a, valid_until=timezone.now() - timedelta(days=1))
    resident_with_photo(community_b)
    reconcile.plan(terminal)
    present = TerminalMember.objects.filter(terminal=terminal, present=True)
    assert [(m.resident_id, m.employee_no, m.name, m.status) for m in present] == [
        (ok.pk, f"R{ok.pk}", ok.name, Status.PENDING)]
    assert reconcile.plan(terminal) == 0  # nothing changed: no writes


def test_it_converges_people_and_faces_onto_the_terminal(terminal, community_a):
    residents = [resident_with_photo(community_a, seed=n) for n in range(3)]
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 3"
    held = fake(terminal.base_url)
    assert sorted(held.people) == sorted(employee_no_of(r.pk) for r in residents)
    assert sorted(held.faces) == sorted(held.people)
    assert set(TerminalMember.objects.values_list("status", flat=True)) == {Status.IN_SYNC}
    held.calls.clear()
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 0"
    assert held.calls == []  # converged: nothing is pushed again


def test_it_follows_rejection_renaming_and_photo_change(terminal, community_a):
    stays, leaves = resident_with_photo(community_a, seed=1), resident_with_photo(community_a, seed=2)
    reconcile.reconcile_terminal(terminal.pk)
    held = fake(terminal.base_url)
    face_before = held.faces[employee_no_of(stays.pk)]
    leaves.status = Resident.Status.REJECTED
    leaves.save()
    stays.name = "新名字"
    stays.save()
    with_photo(stays, seed=7)
    held.calls.clear()
    reconcile.reconcile_terminal(terminal.pk)
    assert list(held.people) == [employee_no_of(stays.pk)]
    assert held.people[employee_no_of(stays.pk)].name == "新名字"
    assert held.faces[employee_no_of(stays.pk)] != face_before
    assert held.calls == [f"delete {employee_no_of(leaves.pk)}", f"update {employee_no_of(stays.pk)}",
                          f"face {employee_no_of(stays.pk)}"]


def test_it_removes_a_deleted_resident(terminal, community_a):
    resident = resident_with_photo(community_a)
    reconcile.reconcile_terminal(terminal.pk)
    resident.delete()
    reconcile.reconcile_terminal(terminal.pk)
    assert fake(terminal.base_url).people == {}
    assert TerminalMember.objects.get().status == Status.IN_SYNC


def test_it_keeps_a_refusal_with_the_terminals_reason_until_retried(terminal, community_a):
    resident = resident_with_photo(community_a)
    no = employee_no_of(resident.pk)
    held = fake(terminal.base_url)
    held.refuse[no] = TerminalError("faceLibraryFull", permanent=True, code="library_full")
    reconcile.reconcile_terminal(terminal.pk)
    member = TerminalMember.objects.get()
    assert (member.status, member.refusal_code, member.refusal_reason) == (Status.REFUSED, "library_full",
                                                                            "faceLibraryFull")
    held.calls.clear()
    reconcile.reconcile_terminal(terminal.pk)
    assert held.calls == []  # no retry by itself
    del held.refuse[no]
    assert reconcile.retry_members(TerminalMember.objects.all(), acting_user=None) == 1
    reconcile.reconcile_terminal(terminal.pk)
    assert TerminalMember.objects.get().status == Status.IN_SYNC
    assert no in held.faces


def test_it_backs_off_when_the_terminal_is_unreachable(terminal, community_a):
    resident_with_photo(community_a)
    held = fake(terminal.base_url)
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=False, last_resync_at=timezone.now())
    held.offline = True
    assert reconcile.reconcile_terminal(terminal.pk) == "unreachable"
    member = TerminalMember.objects.get()
    assert member.status == Status.RETRYING and member.attempts == 1
    assert member.next_attempt_at > timezone.now()
    terminal.refresh_from_db()
    assert not terminal.online and terminal.offline_since is not None and terminal.claimed_until is None
    held.offline = False
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 0"  # not yet due
    TerminalMember.objects.update(next_attempt_at=timezone.now())
    reconcile.reconcile_terminal(terminal.pk)
    assert TerminalMember.objects.get().status == Status.IN_SYNC


def test_it_leaves_a_claimed_terminal_to_its_worker(terminal, community_a):
    resident_with_photo(community_a)
    assert reconcile.claim(terminal.pk)
    assert reconcile.reconcile_terminal(terminal.pk) == "busy"
    reconcile.release(terminal.pk)
    assert reconcile.reconcile_terminal(terminal.pk).startswith("converged")


def test_it_resyncs_by_correcting_only_the_difference(terminal, community_a):
    residents = [resident_with_photo(community_a, seed=n) for n in range(3)]
    reconcile.reconcile_terminal(terminal.pk)
    held = fake(terminal.base_url)
    lost, faceless = employee_no_of(residents[0].pk), employee_no_of(residents[1].pk)
    del held.people[lost]
    del held.faces[lost]
    del held.faces[faceless]
    now = timezone.now()
    held.people["X99"] = TerminalPerson("X99", "陌生人", now, now + timedelta(days=1))
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=True)
    held.calls.clear()
    reconcile.reconcile_terminal(terminal.pk)
    assert sorted(held.calls) == sorted(["list", "delete X99", f"add {lost}", f"face {lost}", f"face {faceless}"])
    assert sorted(held.people) == sorted(employee_no_of(r.pk) for r in residents)
    assert sorted(held.faces) == sorted(held.people)


def test_it_resyncs_a_reset_terminal(terminal, community_a):
    residents = [resident_with_photo(community_a, seed=n) for n in range(2)]
    reconcile.reconcile_terminal(terminal.pk)
    held = fake(terminal.base_url)
    held.reset()
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=True)
    reconcile.reconcile_terminal(terminal.pk)
    assert sorted(held.faces) == sorted(employee_no_of(r.pk) for r in residents)


def test_it_nudges_the_terminals_of_a_changed_resident(terminal, community_a, monkeypatch, django_capture_on_commit_callbacks):
    started = []
    monkeypatch.setattr(reconcile, "start_task", lambda name, *args, what: started.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        ResidentFactory(community=community_a)
    assert started == [("terminals.reconcile_terminal", (terminal.pk,))]


def test_it_hands_on_to_another_task_when_its_budget_is_spent(terminal, community_a, settings, monkeypatch):
    [resident_with_photo(community_a, seed=n) for n in range(3)]
    started = []
    monkeypatch.setattr(reconcile, "start_task", lambda name, *args, what: started.append((name, args)))
    settings.TERMINAL_RECONCILE_BUDGET_SECONDS = 0
    assert reconcile.reconcile_terminal(terminal.pk) == "to be continued"
    assert started == [("terminals.reconcile_terminal", (terminal.pk,))]
    assert TerminalMember.objects.filter(status=Status.IN_SYNC).count() == 1  # one person per task at least
    settings.TERMINAL_RECONCILE_BUDGET_SECONDS = 60
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 2"
