"""Device keys: issued once (admin and command), stored hashed, revocable, reissuable, scoped."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from communities.models import MonitoringPoint
from devices.models import Device, DeviceEvent
from devices.tasks import purge_device_events
from tests.device_helpers import auth, make_device
from tests.factories import PointFactory

FACES_URL = "/api/v1/devices/faces"


def works(client, key: str) -> bool:
    return client.get(FACES_URL, **auth(key)).status_code == 200


def key_on_page(html: str) -> list[str]:
    return re.findall(r'<code class="device-key">([^<]+)</code>', html)


def test_it_issues_a_key_from_the_command_and_prints_it_once(client, community_a) -> None:
    point = PointFactory(community=community_a, police_point_id="PP-9", kind=MonitoringPoint.Kind.FACE_PANEL)
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_device_key", "--community", "CITY-A", "--point", "PP-9", "--name", "HK-01",
                 stdout=out, stderr=err)
    key = out.getvalue().strip()
    device = Device.objects.get()
    assert (device.point, device.name) == (point, "HK-01")
    assert key.startswith(f"dk_{device.key_prefix}.") and "cannot be shown again" in err.getvalue()
    # Only the hash is stored: no column holds the key.
    assert device.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(Device.objects.values().get())
    assert works(client, key)


def test_it_refuses_a_point_of_another_community_in_the_command(community_a, community_b) -> None:
    PointFactory(community=community_b, police_point_id="PP-B")
    with pytest.raises(CommandError, match="no point with policePointId 'PP-B' in community 'CITY-A'"):
        call_command("issue_device_key", "--community", "CITY-A", "--point", "PP-B")
    assert not Device.objects.exists()


def test_it_records_the_last_contact(client, community_a) -> None:
    device, key = make_device(community_a)
    assert device.last_seen_at is None
    client.get(FACES_URL, REMOTE_ADDR="10.1.2.3", **auth(key))
    device.refresh_from_db()
    assert device.last_seen_at is not None and device.last_seen_ip == "10.1.2.3"


def test_it_shows_the_key_once_when_staff_add_a_device(client, alice, community_a) -> None:
    point = PointFactory(community=community_a)
    client.force_login(alice)
    response = client.post("/admin/devices/device/add/", {"point": point.pk, "name": "东门面板"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    [key] = key_on_page(response.content.decode())
    device = Device.objects.get()
    assert device.issued_by == alice and device.name == "东门面板"
    assert works(client, key)
    change_page = client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    assert key not in change_page and device.key_prefix in change_page


def test_it_revokes_and_reissues_keys_from_the_admin(client, alice, community_a) -> None:
    device, old_key = make_device(community_a)
    client.force_login(alice)
    changelist = "/admin/devices/device/"
    response = client.post(changelist, {"action": "revoke_keys", "_selected_action": [device.pk]}, follow=True)
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.revoked_by == alice and device.revoked_at is not None
    assert client.get(FACES_URL, **auth(old_key)).json()["detail"] == "The device key has been revoked."

    response = client.post(changelist, {"action": "reissue_keys", "_selected_action": [device.pk]})
    [new_key] = key_on_page(response.content.decode())
    assert works(client, new_key) and not works(client, old_key)
    device.refresh_from_db()
    assert device.revoked_at is None


def test_it_keeps_devices_within_the_staff_communities(client, alice, charlie, community_a) -> None:
    device, _key = make_device(community_a)
    client.force_login(charlie)
    assert str(device) not in client.get("/admin/devices/device/").content.decode()
    assert client.get(f"/admin/devices/device/{device.pk}/change/").status_code in (302, 403, 404)
    # Charlie cannot register a device at a point of community A.
    point_a = PointFactory(community=community_a)
    response = client.post("/admin/devices/device/add/", {"point": point_a.pk, "name": "intruder"})
    assert response.status_code == 200 and not key_on_page(response.content.decode())
    assert Device.objects.count() == 1
    response = client.post("/admin/devices/device/", {"action": "revoke_keys", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.revoked_at is None


def test_it_lists_device_events_to_the_community_staff_only(client, alice, charlie, community_a) -> None:
    device, _key = make_device(community_a)
    event = DeviceEvent.objects.create(community=community_a, device=device, point=device.point, kind="car",
                                       occurred_at=device.created_at, plate="川A99999")
    client.force_login(alice)
    assert "川A99999" in client.get("/admin/devices/deviceevent/").content.decode()
    assert client.get(f"/admin/devices/deviceevent/{event.pk}/change/").status_code == 200  # view only
    client.force_login(charlie)
    assert "川A99999" not in client.get("/admin/devices/deviceevent/").content.decode()


def test_it_purges_device_events_after_the_retention(community_a, settings) -> None:
    device, _key = make_device(community_a)
    old, recent = (DeviceEvent.objects.create(community=community_a, device=device, point=device.point, kind="car",
                                              occurred_at=device.created_at) for _ in range(2))
    DeviceEvent.objects.filter(pk=old.pk).update(received_at=device.created_at - timedelta(days=91))
    assert purge_device_events() == 1
    assert list(DeviceEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    settings.DEVICE_EVENT_RETENTION_DAYS = 0
    assert purge_device_events() == 1


def test_it_records_the_device_address_behind_a_trusted_proxy(client, community_a, settings) -> None:
    settings.APPLY_ACCESS_TRUSTED_PROXIES = ["127.0.0.1/32"]
    device, key = make_device(community_a)
    client.get(FACES_URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.9.8.7", **auth(key))
    device.refresh_from_db()
    assert device.last_seen_ip == "10.9.8.7"  # the right-most hop that is not the proxy
