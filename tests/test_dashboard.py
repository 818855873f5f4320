"""The admin's landing page: a dashboard of the user's communities. Its numbers are the database's, for
Alice's community and nothing of it for Charlie; its JSON endpoint is scoped and staff only; the charts are
SVG drawn on the server; and the state of the city link is the one uploads.monitoring decides."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from communities.models import MonitoringPoint
from dashboard import figures
from devices.models import DeviceEvent
from residents.excel.models import ImportJob
from residents.models import Resident
from tests.device_helpers import make_device
from tests.factories import ResidentFactory
from uploads.models import Endpoint, LinkState, OutboxRecord
from uploads.testing import pass_record


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events(community, point, device, count: int, when, direction: str = "in") -> None:
    DeviceEvent.objects.bulk_create([
        DeviceEvent(community=community, point=point, device=device, kind=DeviceEvent.Kind.PASS,
                    occurred_at=when, direction=direction) for _n in range(count)])


@pytest.fixture
def world(community_a, community_b, settings):
    """A day in both communities: people reviewed, passes, a silent device, a backlog, an import running."""
    settings.DEVICE_SILENT_AFTER_SECONDS = 600
    now = timezone.now()
    just_now = max(now - timedelta(seconds=5), figures.day_start(now))  # today, even just after midnight
    for community, pending in ((community_a, 2), (community_b, 5)):
        ResidentFactory.create_batch(pending, community=community, status=Resident.Status.PENDING)
    ResidentFactory(community=community_a, status=Resident.Status.ACTIVE, reviewed_at=just_now)
    ResidentFactory(community=community_a, status=Resident.Status.REJECTED, reviewed_at=just_now)
    ResidentFactory(community=community_a, status=Resident.Status.ACTIVE, reviewed_at=now - timedelta(days=2))
    ResidentFactory(community=community_a, status=Resident.Status.ACTIVE, valid_until=now + timedelta(days=3))
    ResidentFactory(community=community_a, status=Resident.Status.ACTIVE, valid_until=now + timedelta(days=10))
    door, _key = make_device(community_a, MonitoringPoint.Kind.FACE_PANEL, number="甲区正门")
    gate, _key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, number="车库")
    other, _key = make_device(community_b)
    type(door).objects.filter(pk=door.pk).update(last_seen_at=now)
    type(gate).objects.filter(pk=gate.pk).update(last_seen_at=now - timedelta(hours=2))  # silent
    events(community_a, door.point, door, 5, just_now, "in")
    events(community_a, door.point, door, 3, just_now, "out")
    events(community_a, gate.point, gate, 4, now - timedelta(days=3), "in")
    events(community_b, other.point, other, 7, just_now, "in")
    for n in range(3):
        OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD,
                                    fields=pass_record(community_a, n)[0])
    OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={},
                                status=OutboxRecord.Status.SENT, sent_at=now)
    LinkState.objects.create(community=community_a, last_success_at=now - timedelta(seconds=30),
                             last_error_at=now - timedelta(seconds=10), last_error="HTTP 503")
    ImportJob.objects.create(community=community_a, original_name="住户.xlsx", file="imports/x.xlsx",
                             status=ImportJob.Status.CHECKING, rows_total=200, rows_done=50)
    ImportJob.objects.create(community=community_b, original_name="B.xlsx", file="imports/y.xlsx",
                             status=ImportJob.Status.WRITING, rows_total=10, rows_done=1)
    return {"door": door, "gate": gate, "now": now}


def test_it_shows_alice_the_databases_numbers_of_her_community(alice, community_a, world) -> None:
    now = timezone.now()
    today = figures.day_start(now)
    mine = Resident.objects.filter(community=community_a)
    expected = {
        "people.pending": mine.filter(status=Resident.Status.PENDING).count(),
        "people.approved_today": mine.filter(status=Resident.Status.ACTIVE, reviewed_at__gte=today).count(),
        "people.rejected_today": mine.filter(status=Resident.Status.REJECTED, reviewed_at__gte=today).count(),
        "people.expiring_week": mine.filter(status=Resident.Status.ACTIVE, valid_until__gte=now,
                                            valid_until__lt=now + timedelta(days=7)).count(),
        "events.today": DeviceEvent.objects.filter(community=community_a, occurred_at__gte=today).count(),
        "devices.silent": type(world["door"]).objects.filter(point__community=community_a).filter(
            Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - timedelta(seconds=600))).count(),
        "link.backlog": OutboxRecord.objects.filter(community=community_a, status__in=("pending", "in_flight")).count(),
        f"endpoint.{Endpoint.PASS_RECORD}.sent_today": OutboxRecord.objects.filter(
            community=community_a, status="sent", sent_at__gte=today).count(),
        f"pass.{world['door'].point_id}.in": DeviceEvent.objects.filter(
            point=world["door"].point, direction="in", occurred_at__gte=today).count(),
        f"pass.{world['door'].point_id}.out": DeviceEvent.objects.filter(
            point=world["door"].point, direction="out", occurred_at__gte=today).count(),
    }
    assert expected == {"people.pending": 2, "people.approved_today": 1, "people.rejected_today": 1,
                        "people.expiring_week": 1, "events.today": 8, "devices.silent": 1, "link.backlog": 3,
                        f"endpoint.{Endpoint.PASS_RECORD}.sent_today": 1, f"pass.{world['door'].point_id}.in": 5,
                        f"pass.{world['door'].point_id}.out": 3}
    # One community: /admin/ is its page.
    page = login(alice).get(reverse("admin:index")).content.decode()
    data = login(alice).get(reverse("dashboard:community-data", args=[community_a.pk])).json()
    for key, value in expected.items():
        assert data["values"][key] == value, key
        assert re.search(rf'data-figure="{re.escape(key)}"[^>]*>{value}<', page), key
    job = ImportJob.objects.get(community=community_a)
    assert data["values"][f"import.{job.pk}.percent"] == 25
    assert data["values"]["link.state"] == "降级" and data["states"]["link.state"] == "degraded"
    assert data["states"][f"device.{world['gate'].pk}.last_seen"] == "silent"
    # The charts: 24 hourly and 30 daily bars whose counts add up to the events of the window.
    hourly = [int(n) for n in re.findall(r'data-count="(\d+)"', data["charts"]["hourly"])]
    daily = [int(n) for n in re.findall(r'data-count="(\d+)"', data["charts"]["daily"])]
    assert len(hourly) == 24 and sum(hourly) == 8
    assert len(daily) == 30 and sum(daily) == 12
    assert "<svg" in page and "住户.xlsx" in page and 'href="/admin/apps/"' in page


def test_it_shows_charlie_nothing_of_alices_community(charlie, community_a, community_b, world) -> None:
    client = login(charlie)
    assert client.get(reverse("dashboard:community", args=[community_a.pk])).status_code == 404
    assert client.get(reverse("dashboard:community-data", args=[community_a.pk])).status_code == 404
    page = client.get(reverse("admin:index")).content.decode()
    assert community_a.name not in page and "甲区正门" not in page and "住户.xlsx" not in page
    data = client.get(reverse("dashboard:community-data", args=[community_b.pk])).json()
    assert data["community"] == community_b.city_id
    assert data["values"]["people.pending"] == 5 and data["values"]["events.today"] == 7
    overview = client.get(reverse("dashboard:overview-data")).json()
    assert set(overview["order"]) == {community_b.pk}


def test_it_answers_the_json_only_to_staff(gary, community_a, world) -> None:
    urls = [reverse("dashboard:community-data", args=[community_a.pk]), reverse("dashboard:overview-data"),
            reverse("dashboard:home")]
    for client in (Client(), login(gary)):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302 and reverse("admin:login") in response["Location"], url


def test_it_gives_several_communities_an_overview_worst_first(root, community_a, community_b, world) -> None:
    data = login(root).get(reverse("dashboard:overview-data")).json()
    assert data["order"] == [community_a.pk, community_b.pk]  # A's link is degraded, B's healthy
    assert data["values"][f"c.{community_b.pk}.pending"] == 5
    assert data["values"][f"c.{community_a.pk}.events_today"] == 8
    page = login(root).get(reverse("admin:index")).content.decode()
    assert page.index(community_a.city_id) < page.index(community_b.city_id)
    assert reverse("dashboard:community", args=[community_b.pk]) in page


def test_it_keeps_the_app_list_reachable(alice, world) -> None:
    page = login(alice).get(reverse("dashboard:apps")).content.decode()
    assert "app-residents" in page or "/admin/residents/" in page


def test_it_computes_a_page_in_a_bounded_number_of_queries(alice, community_a, world,
                                                          django_assert_max_num_queries) -> None:
    for n in range(30):  # more rows change no query count
        events(community_a, world["door"].point, world["door"], 20, timezone.now() - timedelta(hours=n))
    with django_assert_max_num_queries(14):
        figures.community_page(community_a)


def test_it_shows_the_face_terminals_with_their_people_and_state(alice, community_a, fake_vendor) -> None:
    from terminals.models import Terminal, TerminalMember
    from tests.terminal_helpers import make_terminal

    up = make_terminal(community_a, "http://127.0.0.1:9/up", number="东门")
    down = make_terminal(community_a, "http://127.0.0.1:9/down", number="西门")
    Terminal.objects.filter(pk=up.pk).update(online=True, firmware="V3.2.30")
    for n, status in enumerate([TerminalMember.Status.IN_SYNC] * 3 + [TerminalMember.Status.REFUSED]):
        TerminalMember.objects.create(terminal=up, resident_id=1000 + n, employee_no=f"R{1000 + n}", present=True,
                                      status=status)
    data = login(alice).get(reverse("dashboard:community-data", args=[community_a.pk])).json()
    assert data["values"]["terminals.offline"] == 1
    assert data["values"][f"terminal.{up.pk}.people"] == "终端上 3 / 4 人，1 人被拒绝"
    assert data["states"][f"terminal.{up.pk}.online"] == "online"
    assert data["states"][f"terminal.{down.pk}.online"] == "offline"
    page = login(alice).get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-terminals"' in page and "V3.2.30" in page
    table = page[page.index('id="dashboard-terminals"'):]
    assert table.index("西门") < table.index("东门")  # offline first
