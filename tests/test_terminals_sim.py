"""The terminals app against the terminal simulator over HTTP (the real Hikvision driver): residents converge onto
the terminal and follow rejections, photo changes and a reset; a person the terminal refuses shows its reason; a
pass played by the terminal reaches the outbox once, and one pushed while the portal was away is fetched."""

from __future__ import annotations

import time

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from devices.models import DeviceEvent, RefusedEvent
from residents.models import Resident
from sandbox.terminal import BOUNDARY, multipart_push
from terminals import health, reconcile
from terminals.models import Terminal, TerminalMember
from terminals.people import employee_no_of
from terminals.registry import register_terminal
from tests.device_helpers import capture
from tests.factories import PointFactory, ResidentFactory
from tests.terminal_helpers import resident_with_photo
from uploads.models import OutboxRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sim_terminal(community, sim) -> Terminal:
    point = PointFactory(community=community)
    return register_terminal(point=point, vendor="hikvision", base_url=sim.url, username=sim.username,
                             password=sim.password).terminal


def faces_of(sim) -> dict[str, int]:
    return {p["employeeNo"]: p["faceBytes"] for p in sim.people() if p["hasFace"]}


def test_it_converges_residents_onto_the_simulated_terminal(sandbox_terminal, community_a):
    residents = [resident_with_photo(community_a, seed=n % 5) for n in range(50)]
    terminal = sim_terminal(community_a, sandbox_terminal)
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 50"
    assert sorted(faces_of(sandbox_terminal)) == sorted(employee_no_of(r.pk) for r in residents)
    # Rejected: gone; a new photo: the face again.
    rejected, changed = residents[0], residents[1]
    rejected.status = Resident.Status.REJECTED
    rejected.save()
    changed.photo.save("new.jpg", ContentFile(capture(1024, 768, seed=9)))
    before = faces_of(sandbox_terminal)[employee_no_of(changed.pk)]
    reconcile.reconcile_terminal(terminal.pk)
    faces = faces_of(sandbox_terminal)
    assert employee_no_of(rejected.pk) not in faces and len(faces) == 49
    assert faces[employee_no_of(changed.pk)] != before
    # A reset terminal is read back and given everyone again.
    sandbox_terminal.reset()
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=True)
    reconcile.reconcile_terminal(terminal.pk)
    assert len(faces_of(sandbox_terminal)) == 49
    assert set(TerminalMember.objects.values_list("status", flat=True)) == {TerminalMember.Status.IN_SYNC}


def test_it_shows_why_the_terminal_refused_someone(sandbox_terminal, community_a):
    resident = resident_with_photo(community_a)
    terminal = sim_terminal(community_a, sandbox_terminal)
    sandbox_terminal.faults(refuse=[employee_no_of(resident.pk)])
    reconcile.reconcile_terminal(terminal.pk)
    member = TerminalMember.objects.get()
    assert member.status == TerminalMember.Status.REFUSED and member.refusal_code == "face_quality"
    assert member.refusal_reason


def test_it_receives_the_terminals_pushes(sandbox_terminal, community_a, live_server, settings):
    settings.TERMINAL_RECEIVER_BASE_URL = live_server.url
    resident = resident_with_photo(community_a)
    terminal = sim_terminal(community_a, sandbox_terminal)
    assert health.probe(terminal).ok  # tells the terminal where to push
    reconcile.reconcile_terminal(terminal.pk)
    played = sandbox_terminal.pass_(employee_no_of(resident.pk))
    # Answered 200 once stored: the simulator's 1280x720 capture made to the city's face-panel rule.
    assert played["push"]["status"] == 200, played
    first = DeviceEvent.objects.get()
    assert first.resident_id == resident.pk and first.device_event_id.startswith("sn-")
    assert not RefusedEvent.objects.exists()
    first.delete()
    OutboxRecord.objects.all().delete()
    assert sandbox_terminal.heartbeat()["push"]["status"] == 200
    # A push as the terminal makes it, with a capture the city takes, pushed twice: stored once.
    log = {"dateTime": timezone.localtime().isoformat(timespec="seconds"), "eventType": "AccessControllerEvent",
           "AccessControllerEvent": {"majorEventType": 5, "subEventType": 75, "serialNo": 100,
                                     "employeeNoString": employee_no_of(resident.pk), "currentVerifyMode": "face"}}
    body = multipart_push(log, capture(1280, 720))
    url = f"/terminals/{terminal.event_secret}/events"
    for _ in range(2):
        response = Client().post(url, body, content_type=f"multipart/form-data; boundary={BOUNDARY}")
        assert response.status_code == 200, response.content
    event = DeviceEvent.objects.get()
    assert (event.resident_id, event.device_event_id) == (resident.pk, "sn-100")
    assert OutboxRecord.objects.count() == 1


def test_it_converges_500_residents_and_stays_converged(sandbox_terminal, community_a):
    """The issue's scale: 500 onto one terminal, then a few changes cost only their own calls."""
    residents = [resident_with_photo(community_a, seed=n % 5) for n in range(500)]
    terminal = sim_terminal(community_a, sandbox_terminal)
    started = time.monotonic()
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 500"
    assert len(faces_of(sandbox_terminal)) == 500
    for resident in residents[:3]:
        resident.status = Resident.Status.EXPIRED
        resident.save()
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 3"
    assert len(faces_of(sandbox_terminal)) == 497
    # About a minute on a shared 2-core machine: two HTTP calls (Digest) and a commit per person.
    assert time.monotonic() - started < 120


def test_it_puts_a_portrait_smaller_than_the_citys_minimum_on_the_terminal(sandbox_terminal, community_a):
    # The city's 800x600 is for the pass records it receives; a terminal takes a face by its own limits.
    from tests import photos

    resident = ResidentFactory(community=community_a)
    resident.photo.save("portrait.jpg", ContentFile(photos.jpeg_bytes(photos.photo(480, 600, seed=3))))
    terminal = sim_terminal(community_a, sandbox_terminal)
    assert reconcile.reconcile_terminal(terminal.pk) == "converged 1"
    assert list(faces_of(sandbox_terminal)) == [employee_no_of(resident.pk)]
