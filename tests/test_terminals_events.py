"""Events from terminals: the receiver stores a pass once however often it is pushed, acknowledges heartbeats
without forwarding them, keeps refusals, answers 503 when it cannot store; the gap fetch ingests what the pushes
missed, once."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from devices.models import DeviceEvent, RefusedEvent
from terminals import events, reconcile
from terminals.models import Terminal
from terminals.vendors.base import TerminalEvent
from tests.device_helpers import capture
from tests.terminal_fake import fake
from tests.terminal_helpers import make_terminal, resident_with_photo
from uploads.models import OutboxRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def terminal(community_a, fake_vendor):
    return make_terminal(community_a)


@pytest.fixture
def resident(terminal, community_a):
    resident = resident_with_photo(community_a)
    reconcile.reconcile_terminal(terminal.pk)
    return resident


def push(terminal: Terminal, *items: dict) -> object:
    body = json.dumps({"events": list(items)})
    return Client().post(f"/terminals/{terminal.event_secret}/events", body, content_type="application/json")


def passing(serial: int, employee_no: str, *, minutes_ago: int = 1) -> dict:
    return {"serial": serial, "employee_no": employee_no, "pass": True,
            "time": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
            "picture": base64.b64encode(capture(1280, 720)).decode()}


def test_it_stores_a_pushed_pass_once_even_when_pushed_twice(terminal, resident):
    item = passing(7, f"R{resident.pk}")
    assert push(terminal, item).status_code == 200
    assert push(terminal, item).status_code == 200
    event = DeviceEvent.objects.get()
    assert (event.device_event_id, event.resident_id, event.point_id) == ("sn-7", resident.pk, terminal.point_id)
    assert OutboxRecord.objects.count() == 1
    terminal.refresh_from_db()
    assert terminal.last_serial_no == 7 and terminal.last_event_at is not None


def test_it_acknowledges_heartbeats_without_forwarding_them(terminal):
    response = push(terminal, {"serial": 0, "time": timezone.now().isoformat(), "pass": False})
    assert response.status_code == 200
    assert DeviceEvent.objects.count() == 0 and RefusedEvent.objects.count() == 0
    terminal.refresh_from_db()
    assert terminal.last_contact_at is not None and terminal.last_event_at is None


def test_it_keeps_a_pass_of_an_unknown_person_as_a_refusal_and_answers_200(terminal):
    assert push(terminal, passing(3, "X1")).status_code == 200
    assert DeviceEvent.objects.count() == 0
    assert RefusedEvent.objects.get().field == "person"


def test_it_answers_404_for_an_unknown_secret_and_400_for_a_body_that_is_no_push(terminal):
    assert Client().post("/terminals/nope/events", "{}", content_type="application/json").status_code == 404
    response = Client().post(f"/terminals/{terminal.event_secret}/events", "x", content_type="text/plain")
    assert response.status_code == 400 and "not a push" in response.json()["detail"]


def test_it_answers_503_when_the_event_cannot_be_stored(terminal, resident, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("devices.ingest.store.store_drafts", full)
    assert push(terminal, passing(9, f"R{resident.pk}")).status_code == 503


def test_it_fetches_the_gap_a_serial_jump_shows(terminal, resident, monkeypatch):
    started = []
    monkeypatch.setattr(events, "start_task", lambda name, *args, what: started.append(name))
    push(terminal, passing(1, f"R{resident.pk}", minutes_ago=5))
    push(terminal, passing(4, f"R{resident.pk}"))
    assert started == ["terminals.fetch_gap"]


def test_it_ingests_missed_serials_once(terminal, resident):
    held = fake(terminal.base_url)
    now = timezone.now()
    picture = capture(1280, 720)
    held.events = [TerminalEvent(serial_no=n, occurred_at=now - timedelta(minutes=10 - n), is_pass=n != 3,
                                 employee_no=f"R{resident.pk}", picture=picture) for n in range(1, 6)]
    Terminal.objects.filter(pk=terminal.pk).update(created_at=now - timedelta(hours=1))
    push(terminal, passing(2, f"R{resident.pk}"))  # one arrived by push
    assert events.fetch_gap(terminal.pk) == "stored 3"  # 1, 4, 5 (3 is no pass, 2 is known)
    assert events.fetch_gap(terminal.pk) == "stored 0"
    assert sorted(DeviceEvent.objects.values_list("device_event_id", flat=True)) == ["sn-1", "sn-2", "sn-4", "sn-5"]
    terminal.refresh_from_db()
    assert terminal.events_checked_until is not None and terminal.last_serial_no == 5


def test_it_keeps_the_window_when_the_terminal_cannot_be_searched(terminal):
    fake(terminal.base_url).offline = True
    assert events.fetch_gap(terminal.pk) == "failed"
    terminal.refresh_from_db()
    assert terminal.events_checked_until is None


def test_it_tells_a_reset_terminals_new_serial_from_an_old_event_resent(terminal, resident):
    first = passing(7, f"R{resident.pk}", minutes_ago=3 * 24 * 60)  # three days ago
    assert push(terminal, first).status_code == 200
    again = dict(first, time=(datetime.fromisoformat(first["time"]) + timedelta(seconds=1)).isoformat())
    assert push(terminal, again).status_code == 200  # the same event, its time a second off: no second record
    assert DeviceEvent.objects.count() == 1
    # The terminal was reset: its serialNo 7 is a new pass today.
    assert push(terminal, passing(7, f"R{resident.pk}")).status_code == 200
    keys = sorted(DeviceEvent.objects.values_list("device_event_id", flat=True))
    assert len(keys) == 2 and keys[0] == "sn-7" and keys[1].startswith("sn-7-")
    assert OutboxRecord.objects.count() == 2


def test_it_keys_an_event_without_a_serial_by_its_time_and_person(terminal, resident):
    item = passing(0, f"R{resident.pk}")
    assert push(terminal, item).status_code == 200
    assert push(terminal, item).status_code == 200
    assert push(terminal, dict(item, time=(timezone.now() - timedelta(seconds=5)).isoformat())).status_code == 200
    assert DeviceEvent.objects.count() == 2
    assert all(k.startswith("t-") for k in DeviceEvent.objects.values_list("device_event_id", flat=True))
