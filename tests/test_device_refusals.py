"""Issue 14, devices: refused events are kept (field and reason, never a submitted value) and listed, purged after
their retention, counted on the dashboard; the events' page names the person; the device pages show the
addresses a device posts to, with a copy button."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from communities.models import MonitoringPoint
from dashboard import figures
from devices import ingest
from devices.ingest import store
from devices.ingest.answers import Answer, Refused
from devices.models import Device, DeviceEvent, RefusedEvent
from devices.tasks import purge_refused_events
from tests.clients import logged_in
from tests.device_helpers import auth, capture_b64, make_device
from tests.factories import PointFactory, ResidentFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASS_URL = "/api/v1/devices/pass-events"


def now_text() -> str:
    return timezone.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def post(client: Client, key: str, body: object) -> dict:
    response = client.post(PASS_URL, data=json.dumps(body), content_type="application/json", **auth(key))
    assert response.status_code == 200, response.content
    return response.json()


def refused(community, device: Device, field: str, reason: str, when=None, kind: str = "pass") -> RefusedEvent:
    return RefusedEvent.objects.create(community=community, device=device, point=device.point, kind=kind, index=0,
                                       field=field, reason=reason, errors=[{"field": field, "reason": reason}],
                                       received_at=when or timezone.now())


@pytest.fixture
def panel(community_a):
    return make_device(community_a, MonitoringPoint.Kind.FACE_PANEL, police_point_id="PP-EAST-1",
                       default_direction="in")


@pytest.fixture
def resident(community_a):
    return ResidentFactory(community=community_a, city_owner_id="owner-777", name="张三")


# --- Kept with the request ----------------------------------------------------------------------------------


def test_it_keeps_each_refused_event_with_its_reasons_and_no_submitted_value(client, panel, resident) -> None:
    device, key = panel
    body = post(client, key, [{"person": "owner-777", "time": now_text(), "image": capture_b64()},
                              {"person": "owner-secret-999", "time": now_text(), "image": capture_b64()},
                              {"person": "owner-777", "time": "not-a-time-secret", "image": capture_b64()}])
    assert (body["accepted"], body["refused"]) == (1, 2)
    rows = list(RefusedEvent.objects.order_by("index"))
    assert [(r.index, r.kind, r.device, r.point, r.community, r.resend) for r in rows] == [
        (i, "pass", device, device.point, device.point.community, False) for i in (1, 2)]
    for row in rows:
        result = body["results"][row.index]
        assert (row.field, row.reason) == (result["field"], result["reason"])
        assert row.errors == result["errors"]
    stored = json.dumps(list(RefusedEvent.objects.values()), default=str)
    assert "secret" not in stored  # the submitted values are nowhere


def test_it_keeps_deferred_events_flagged_resend(client, panel, resident, settings) -> None:
    _device, key = panel
    settings.DEVICE_API_MAX_PIXELS_PER_REQUEST = 1  # the first event is always admitted; the rest are deferred
    body = post(client, key, [{"person": "owner-777", "time": now_text(), "image": capture_b64()} for _n in range(3)])
    assert body["accepted"] == 1
    assert list(RefusedEvent.objects.order_by("index").values_list("index", "resend", "field")) == [
        (1, True, "event"), (2, True, "event")]


def test_it_keeps_no_refusal_when_the_request_does_not_commit(client, panel, resident, monkeypatch) -> None:
    device, key = panel
    original = store.keep_refusals

    def keep_then_fail(*args: object) -> None:
        original(*args)
        assert RefusedEvent.objects.count() == 1
        raise DatabaseError("simulated: the commit failed")

    monkeypatch.setattr(store, "keep_refusals", keep_then_fail)
    with pytest.raises(DatabaseError, match="simulated"):
        post(client, key, [{"person": "nobody", "time": now_text(), "image": capture_b64()}])
    device.refresh_from_db()
    assert not RefusedEvent.objects.exists() and device.refused_count == 0


def test_it_writes_at_most_a_request_s_events_in_one_insert(panel) -> None:
    device, _key = panel
    answers = [Answer(n, errors=[Refused("event", "必须是对象")]) for n in range(ingest.MAX_EVENTS_PER_REQUEST + 50)]
    device = Device.objects.select_related("point").get(pk=device.pk)
    with CaptureQueriesContext(connection) as queries:
        store.keep_refusals(device, "pass", answers)
    # bulk_create: INSERTs only (SQLite splits 100 rows in two for its limit of variables), no query per row.
    assert {q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]} == {"INSERT"}
    assert len(queries.captured_queries) <= 4
    assert RefusedEvent.objects.count() == ingest.MAX_EVENTS_PER_REQUEST


# --- Retention ----------------------------------------------------------------------------------------------


def test_it_purges_refusals_past_their_retention_in_chunks(community_a, panel, settings) -> None:
    device, _key = panel
    settings.DEVICE_REFUSAL_RETENTION_DAYS = 14
    for _n in range(5):
        refused(community_a, device, "time", "old", when=timezone.now() - timedelta(days=15))
    kept = refused(community_a, device, "time", "recent", when=timezone.now() - timedelta(days=13))
    assert purge_refused_events(chunk=2) == 5
    assert list(RefusedEvent.objects.all()) == [kept]


def test_it_schedules_the_purge_and_defaults_to_two_weeks() -> None:
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "devices.purge_refused_events"]
    assert len(entries) == 1
    assert django_settings.DEVICE_REFUSAL_RETENTION_DAYS == 14


# --- The admin list -----------------------------------------------------------------------------------------


def test_it_lists_refusals_read_only_and_of_the_user_s_communities(alice, community_a, community_b) -> None:
    device_a, _key = make_device(community_a)
    device_b, _key = make_device(community_b)
    mine = refused(community_a, device_a, "passDate", "必须是日期-甲")
    refused(community_b, device_b, "passDate", "必须是日期-乙")
    client = logged_in(alice)
    response = client.get("/admin/devices/refusedevent/")
    page = response.content.decode()
    assert response.status_code == 200 and "必须是日期-甲" in page and "必须是日期-乙" not in page
    assert "/admin/devices/refusedevent/add/" not in page
    assert client.get("/admin/devices/refusedevent/?field=passDate").status_code == 200
    assert client.get(f"/admin/devices/refusedevent/?device__id__exact={device_a.pk}").status_code == 200
    detail = client.get(f"/admin/devices/refusedevent/{mine.pk}/change/")
    assert detail.status_code == 200 and 'type="submit"' not in detail.content.decode().split('id="content"')[1]
    assert client.post(f"/admin/devices/refusedevent/{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RefusedEvent.objects.filter(pk=mine.pk).exists()


# --- The dashboard ------------------------------------------------------------------------------------------


def test_it_counts_today_s_refusals_and_their_commonest_reasons(alice, community_a, community_b,
                                                                 django_assert_num_queries) -> None:
    device, _key = make_device(community_a)
    other, _key = make_device(community_b)
    for field, reason, n in [("time", "格式错误", 4), ("person", "未登记", 3), ("image", "太小", 2), ("plate", "无", 1)]:
        for _n in range(n):
            refused(community_a, device, field, reason)
    refused(community_a, device, "time", "昨天的", when=figures.day_start(timezone.now()) - timedelta(seconds=1))
    refused(community_b, other, "time", "格式错误")
    with django_assert_num_queries(1):
        found = figures.refusals_today(community_a.pk, timezone.now())
    assert found.today == 10
    assert found.top == [("time", "格式错误", 4), ("person", "未登记", 3), ("image", "太小", 2)]
    page = logged_in(alice).get(reverse("dashboard:community", args=[community_a.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure="refusals.today"' in html and "格式错误" in html and "无</td>" not in html
    listing = logged_in(alice).get(page.context["refusals_url"])  # the section's link opens the community's list
    assert listing.status_code == 200 and "格式错误" in listing.content.decode()


# --- The person on the events' page -------------------------------------------------------------------------


def test_it_names_the_person_of_each_event_with_one_query_for_the_page(alice, community_a, panel,
                                                                       django_assert_max_num_queries) -> None:
    device, _key = panel
    client = logged_in(alice)

    def add_event(name: str) -> None:
        person = ResidentFactory(community=community_a, name=name)
        DeviceEvent.objects.create(community=community_a, device=device, point=device.point, kind="pass",
                                   occurred_at=timezone.now(), resident_id=person.pk)

    add_event("李四")
    with CaptureQueriesContext(connection) as one:
        page = client.get("/admin/devices/deviceevent/").content.decode()
    assert "李四" in page
    for n in range(10):
        add_event(f"王五{n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get("/admin/devices/deviceevent/").content.decode()
    assert all(f"王五{n}" in page for n in range(10))


# --- The addresses a device posts to ------------------------------------------------------------------------


def test_it_shows_the_addresses_and_a_copy_button_on_the_change_page(alice, community_a) -> None:
    device, _key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT)
    page = logged_in(alice).get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    assert "http://testserver/api/v1/devices/car-snapshots" in page
    assert "/api/v1/devices/pass-events" not in page  # not for this kind of point
    assert 'data-copy="device-endpoint-' in page and "devices/copy.js" in page


def test_it_shows_the_addresses_with_the_new_key(alice, community_a) -> None:
    point = PointFactory(community=community_a, kind=MonitoringPoint.Kind.FACE_PANEL)
    response = logged_in(alice).post("/admin/devices/device/add/", {"point": point.pk, "name": "东门面板"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "http://testserver/api/v1/devices/pass-events" in page and "http://testserver/api/v1/devices/faces" in page
    assert 'data-copy="device-key-' in page and "devices/copy.js" in page
