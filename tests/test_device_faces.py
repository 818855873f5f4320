"""The face list: a full sync in pages, then changes since a cursor across approvals, rejections,
expiries and deletions; photos fetched with the device key; one community only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from communities.models import MonitoringPoint
from devices.faces import Cursor
from devices.models import FaceTombstone
from devices.tasks import purge_face_tombstones
from residents.models import Resident
from residents.services import change_status, expire_residents
from tests.device_helpers import auth, capture, make_device
from tests.factories import ResidentFactory

FACES_URL = "/api/v1/devices/faces"


@pytest.fixture(autouse=True)
def no_settle_window(settings) -> None:
    settings.DEVICE_FACE_LIST_SETTLE_SECONDS = 0


@pytest.fixture
def panel(community_a):
    return make_device(community_a, MonitoringPoint.Kind.FACE_PANEL)


def get_faces(client, key: str, since: str | None = None, limit: int | None = None) -> dict:
    params = {k: v for k, v in {"since": since, "limit": limit}.items() if v is not None}
    response = client.get(FACES_URL, params, **auth(key))
    assert response.status_code == 200, response.content
    return response.json()


def full_sync(client, key: str, limit: int) -> tuple[set[int], str, int]:
    """Page through the list as a panel does; returns (ids of faces, last cursor, pages)."""
    ids: set[int] = set()
    body = get_faces(client, key, limit=limit)
    pages = 1
    ids |= {f["id"] for f in body["faces"]}
    while body["more"]:
        body = get_faces(client, key, body["cursor"], limit)
        pages += 1
        ids |= {f["id"] for f in body["faces"]}
        ids -= {r["id"] for r in body["removed"]}
    return ids, body["cursor"], pages


def test_it_pages_through_the_active_residents_of_the_device_community(client, panel, community_a,
                                                                       community_b) -> None:
    _device, key = panel
    active = [ResidentFactory(community=community_a) for _ in range(5)]
    ResidentFactory(community=community_a, status=Resident.Status.PENDING)
    ResidentFactory(community=community_a, status=Resident.Status.REJECTED)
    ResidentFactory(community=community_b)  # another community: never listed
    first = get_faces(client, key, limit=2)
    assert len(first["faces"]) == 2 and first["more"] is True and first["removed"] == []
    ids, _cursor, pages = full_sync(client, key, limit=2)
    assert ids == {r.pk for r in active}
    assert pages >= 3


def test_it_describes_each_face(client, panel, community_a) -> None:
    _device, key = panel
    resident = ResidentFactory(community=community_a, name="王五", city_owner_id="owner-55")
    resident.photo.save("face.jpg", ContentFile(capture(800, 600)))
    face = get_faces(client, key)["faces"][0]
    assert face["id"] == resident.pk and face["userId"] == "owner-55" and face["name"] == "王五"
    assert (face["personType"], face["type"]) == ("01", "USER")
    assert face["validFrom"] is None and face["validUntil"] is None
    assert face["photoUrl"] == f"http://testserver/api/v1/devices/faces/{resident.pk}/photo"
    assert "idCard" not in face and "phone" not in face  # a panel needs no ID number or phone


def test_it_gives_the_changes_since_a_cursor(client, panel, community_a, alice) -> None:
    _device, key = panel
    # Created before the others, so the full sync (active only) passes it: a pending person is
    # otherwise listed as removed (harmless: a panel forgets someone it never had).
    pending = ResidentFactory(community=community_a, status=Resident.Status.PENDING)
    keep, to_reject, to_expire, to_delete = (ResidentFactory(community=community_a) for _ in range(4))
    ids, cursor, _pages = full_sync(client, key, limit=100)
    assert ids == {keep.pk, to_reject.pk, to_expire.pk, to_delete.pk}

    nothing = get_faces(client, key, cursor)
    assert (nothing["faces"], nothing["removed"], nothing["more"]) == ([], [], False)
    cursor = nothing["cursor"]

    change_status(pending, Resident.Status.ACTIVE, acting_user=alice)
    approved = get_faces(client, key, cursor)
    assert [f["id"] for f in approved["faces"]] == [pending.pk] and approved["removed"] == []
    cursor = approved["cursor"]

    change_status(to_reject, Resident.Status.REJECTED, acting_user=alice, reason="moved out")
    change_status(to_expire, Resident.Status.EXPIRED, actor_label="expiry sweep")
    deleted_pk = to_delete.pk
    to_delete.delete()
    changes = get_faces(client, key, cursor)
    assert changes["faces"] == []
    assert changes["removed"] == [{"id": to_reject.pk, "reason": "rejected"},
                                  {"id": to_expire.pk, "reason": "expired"},
                                  {"id": deleted_pk, "reason": "deleted"}]
    assert FaceTombstone.objects.filter(resident_id=deleted_pk, community=community_a).exists()
    cursor = changes["cursor"]

    # An update of an active resident (a new validity window) is delivered again, once.
    keep.name = "改名"
    keep.save()
    updated = get_faces(client, key, cursor)
    assert [(f["id"], f["name"]) for f in updated["faces"]] == [(keep.pk, "改名")]
    assert get_faces(client, key, updated["cursor"])["faces"] == []


def test_it_pages_changes_mixing_updates_and_deletions(client, panel, community_a) -> None:
    _device, key = panel
    residents = [ResidentFactory(community=community_a) for _ in range(6)]
    _ids, cursor, _pages = full_sync(client, key, limit=100)
    deleted_ids = [r.pk for r in residents[:3]]
    for resident in residents[:3]:
        resident.delete()
    for resident in residents[3:]:
        resident.save()
    seen_removed, seen_faces = [], []
    body = {"more": True, "cursor": cursor}
    while body["more"]:
        body = get_faces(client, key, body["cursor"], limit=2)
        seen_removed += [r["id"] for r in body["removed"]]
        seen_faces += [f["id"] for f in body["faces"]]
    assert seen_removed == deleted_ids  # in the order they happened, each once
    assert sorted(seen_faces) == sorted(r.pk for r in residents[3:])


def test_it_holds_back_changes_younger_than_the_settle_window(client, panel, community_a, settings) -> None:
    _device, key = panel
    settings.DEVICE_FACE_LIST_SETTLE_SECONDS = 60
    ResidentFactory(community=community_a)
    body = get_faces(client, key)
    assert body["faces"] == []  # committed a moment ago: delivered on a later poll
    settings.DEVICE_FACE_LIST_SETTLE_SECONDS = 0
    assert len(get_faces(client, key, body["cursor"])["faces"]) == 1


def test_it_serves_photos_to_the_community_panels_only(client, panel, community_a, community_b) -> None:
    _device, key = panel
    _other, other_key = make_device(community_b, MonitoringPoint.Kind.FACE_PANEL)
    _camera, camera_key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT)
    resident = ResidentFactory(community=community_a)
    resident.photo.save("face.jpg", ContentFile(capture(800, 600)))
    url = f"{FACES_URL}/{resident.pk}/photo"
    response = client.get(url, **auth(key))
    assert response.status_code == 200 and b"".join(response.streaming_content) == capture(800, 600)
    assert response["Cache-Control"] == "private, no-store"
    assert client.get(url).status_code == 401
    assert client.get(url, **auth(other_key)).status_code == 404
    assert client.get(url, **auth(camera_key)).status_code == 404
    change_status(resident, Resident.Status.EXPIRED, actor_label="test")
    assert client.get(url, **auth(key)).status_code == 404


def test_it_refuses_bad_cursors_and_other_devices(client, panel, community_a) -> None:
    _device, key = panel
    response = client.get(FACES_URL, {"since": "garbage!"}, **auth(key))
    assert response.status_code == 400 and "cursor" in response.json()["detail"]
    assert client.get(FACES_URL, {"limit": "many"}, **auth(key)).status_code == 400
    _camera, camera_key = make_device(community_a, MonitoringPoint.Kind.FACE_SNAPSHOT)
    assert client.get(FACES_URL, **auth(camera_key)).status_code == 403
    assert client.get(FACES_URL).status_code == 401


def test_it_tells_panels_about_residents_the_expiry_sweep_expired(client, panel, community_a) -> None:
    _device, key = panel
    visitor = ResidentFactory(community=community_a, valid_until=timezone.now() + timedelta(hours=1))
    ids, cursor, _pages = full_sync(client, key, limit=100)
    face = get_faces(client, key)["faces"][0]
    assert ids == {visitor.pk} and face["validUntil"] == visitor.valid_until.isoformat()
    assert expire_residents(now=timezone.now() + timedelta(hours=2)) == 1
    assert get_faces(client, key, cursor)["removed"] == [{"id": visitor.pk, "reason": "expired"}]


def test_it_moves_the_cursor_of_a_quiet_community_and_refuses_one_too_old(client, panel, community_a,
                                                                          settings) -> None:
    _device, key = panel
    ResidentFactory(community=community_a)
    first = get_faces(client, key)
    quiet = get_faces(client, key, first["cursor"])
    assert quiet["faces"] == [] and Cursor.decode(quiet["cursor"]) > Cursor.decode(first["cursor"])
    old = Cursor(timezone.now() - timedelta(days=31), 0, 0).encode()
    response = client.get(FACES_URL, {"since": old}, **auth(key))
    assert response.status_code == 410 and "full sync" in response.json()["detail"]
    settings.DEVICE_FACE_TOMBSTONE_DAYS = 60
    assert client.get(FACES_URL, {"since": old}, **auth(key)).status_code == 200


def test_it_purges_old_tombstones(community_a) -> None:
    resident = ResidentFactory(community=community_a)
    recent_pk = resident.pk
    resident.delete()
    FaceTombstone.objects.create(community=community_a, resident_id=999, deleted_at=timezone.now() - timedelta(days=40))
    assert purge_face_tombstones() == 1
    assert list(FaceTombstone.objects.values_list("resident_id", flat=True)) == [recent_pk]


def test_it_never_moves_a_cursor_backwards(client, panel, community_a, settings) -> None:
    _device, key = panel
    ResidentFactory(community=community_a)
    cursor = get_faces(client, key)["cursor"]
    settings.DEVICE_FACE_LIST_SETTLE_SECONDS = 3600  # now the feed looks an hour less far
    body = get_faces(client, key, cursor)
    assert body["faces"] == [] and body["cursor"] == cursor


def test_it_keeps_an_active_person_on_the_face_list_through_a_re_application(client, panel, community_a,
                                                                             gary) -> None:
    from residents import services
    from tests.test_apply_access import payload, post

    _device, key = panel
    post(client, payload())
    resident = Resident.objects.get()
    services.approve_resident(resident, acting_user=gary)
    ids, cursor, _pages = full_sync(client, key, limit=10)
    assert ids == {resident.pk}
    # A new ywlsh for the same ownerId (anyone could send it): still on the list, changes or not.
    post(client, payload(ywlsh="YW-0002", name="冒名者", photo="http://photos.example.com/p/evil.jpg"))
    since = get_faces(client, key, cursor)
    assert resident.pk not in {r["id"] for r in since["removed"]}
    assert full_sync(client, key, limit=10)[0] == {resident.pk}
    services.do_reject_proposal(services.pending_proposal(resident), acting_user=gary, reason="冒名")
    assert full_sync(client, key, limit=10)[0] == {resident.pk}
    resident.refresh_from_db()
    assert resident.name == "张三" and resident.status == Resident.Status.ACTIVE
