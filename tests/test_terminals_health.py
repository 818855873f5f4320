"""The probe: online and offline, the event host set once, a terminal back (or replaced) re-read and searched,
and the support contacts alerted once per incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from communities.models import SupportContact
from terminals import health
from terminals.models import Terminal
from terminals.registry import receiver_url
from tests.terminal_fake import fake
from tests.terminal_helpers import make_terminal

pytestmark = pytest.mark.django_db


@pytest.fixture
def terminal(community_a, fake_vendor):
    SupportContact.objects.create(community=community_a, name="运维", phone="13800000000", email="ops@example.com")
    return make_terminal(community_a)


@pytest.fixture
def started(monkeypatch):
    names: list[str] = []
    monkeypatch.setattr(health, "start_task", lambda name, *args, what: names.append(name))
    return names


def test_it_records_the_terminal_and_sets_its_event_host_once(terminal, started):
    assert health.probe_terminal(terminal.pk) == "online"
    terminal.refresh_from_db()
    held = fake(terminal.base_url)
    assert (terminal.online, terminal.model, terminal.firmware, terminal.serial) == (True, "DS-FAKE", "V1.0",
                                                                                     "FAKE-0001")
    assert held.event_host == receiver_url(terminal) == terminal.event_host_url
    held.calls.clear()
    health.probe_terminal(terminal.pk)
    assert held.calls == ["info"]


def test_it_alerts_once_per_incident_and_once_back(terminal, started, settings):
    health.probe_terminal(terminal.pk)
    held = fake(terminal.base_url)
    held.offline = True
    assert health.probe_terminal(terminal.pk) == "offline"
    assert mail.outbox == []  # not yet long enough
    Terminal.objects.filter(pk=terminal.pk).update(
        offline_since=timezone.now() - timedelta(seconds=settings.TERMINAL_OFFLINE_ALERT_SECONDS + 1))
    health.probe_terminal(terminal.pk)
    health.probe_terminal(terminal.pk)
    assert len(mail.outbox) == 1 and "离线" in mail.outbox[0].subject
    held.offline = False
    started.clear()
    health.probe_terminal(terminal.pk)
    health.probe_terminal(terminal.pk)
    assert len(mail.outbox) == 2 and "恢复" in mail.outbox[1].subject
    # Back: what it holds is read again and its missed events fetched.
    assert started == ["terminals.reconcile_terminal", "terminals.fetch_gap"]
    terminal.refresh_from_db()
    assert terminal.resync_needed and terminal.offline_since is None


def test_it_rereads_a_replaced_terminal(terminal, started):
    health.probe_terminal(terminal.pk)
    Terminal.objects.filter(pk=terminal.pk).update(resync_needed=False)
    fake(terminal.base_url).serial = "FAKE-0002"
    health.probe_terminal(terminal.pk)
    terminal.refresh_from_db()
    assert terminal.resync_needed and terminal.serial == "FAKE-0002"
