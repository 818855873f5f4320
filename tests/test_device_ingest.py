"""The ingest API: each kind of event as JSON and multipart, single and in arrays, good and bad.
Every answer is asserted, and so is what was stored (device events, outbox rows, their images)."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from PIL import Image

from communities.models import MonitoringPoint
from devices import images
from devices.keys import revoke_device_key
from devices.models import Device, DeviceEvent
from residents.models import PersonType, Resident
from tests import photos
from tests.device_helpers import auth, capture, capture_b64, make_device
from tests.factories import ResidentFactory
from uploads import outbox
from uploads.contract import SHANGHAI
from uploads.models import OutboxRecord

PASS_URL = "/api/v1/devices/pass-events"
FACE_URL = "/api/v1/devices/face-snapshots"
CAR_URL = "/api/v1/devices/car-snapshots"


@pytest.fixture
def panel(community_a):
    return make_device(community_a, MonitoringPoint.Kind.FACE_PANEL, police_point_id="PP-EAST-1",
                       default_direction="in")


@pytest.fixture
def face_camera(community_a):
    return make_device(community_a, MonitoringPoint.Kind.FACE_SNAPSHOT, police_point_id="PP-FACE-1",
                       default_direction="out")


@pytest.fixture
def car_camera(community_a):
    return make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")


@pytest.fixture
def resident(community_a):
    return ResidentFactory(community=community_a, city_owner_id="owner-777", name="张三")


def now_text(delta: timedelta = timedelta(0)) -> str:
    return (timezone.now() + delta).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def post_json(client, url: str, key: str, body) -> tuple[int, dict]:
    response = client.post(url, data=json.dumps(body), content_type="application/json", **auth(key))
    return response.status_code, response.json()


def post_multipart(client, url: str, key: str, data: dict) -> tuple[int, dict]:
    response = client.post(url, data=data, **auth(key))
    return response.status_code, response.json()


def jpeg_file(name: str = "capture.jpg", width: int = 1920, height: int = 1080, seed: int = 1) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, capture(width, height, seed), content_type="image/jpeg")


def stored_image(path: str) -> tuple[bytes, Image.Image]:
    with default_storage.open(path, "rb") as handle:
        data = handle.read()
    return data, Image.open(io.BytesIO(data))


def check_images_meet(record: OutboxRecord, kind: str) -> None:
    rule = images.RULES[kind]
    for path in record.images.values():
        data, image = stored_image(path)
        assert image.format == "JPEG" and len(data) <= rule.max_bytes and rule.meets_minimum(*image.size)


def refusal(body: dict, index: int = 0) -> tuple[str, str]:
    result = body["results"][index]
    assert result["status"] == "refused", result
    return result["field"], result["reason"]


# --- Pass events -----------------------------------------------------------------------------------

def test_it_accepts_a_pass_event_as_json(client, panel, resident) -> None:
    device, key = panel
    status, body = post_json(client, PASS_URL, key, {"person": "owner-777", "time": "2026-11-25 08:30:00",
                                                     "image": capture_b64()})
    assert status == 200 and body["accepted"] == 1 and body["refused"] == 0
    event = DeviceEvent.objects.get()
    assert body["results"] == [{"index": 0, "status": "accepted", "id": str(event.pk)}]
    assert (event.kind, event.resident_id, event.direction, event.device) == ("pass", resident.pk, "in", device)
    record = event.outbox_record
    assert record.endpoint == "person-inout-info" and record.community == resident.community
    # Stored as the producer said it (the person type is ours), sent as the city wants it.
    assert record.fields == {
        "outId": str(event.pk), "openDate": "2026-11-25 08:30:00", "communityId": "CITY-A",
        "type": "01", "userId": "owner-777", "policePointId": "PP-EAST-1", "inout": "in",
    }
    assert outbox.contract_fields(record, resident.community) == {
        "outId": str(event.pk), "way": "FACE", "openDate": "2026-11-25 08:30:00", "communityId": "CITY-A",
        "type": "USER", "userId": "owner-777", "policePointId": "PP-EAST-1", "inout": "in",
        "source": "THIRDPARTY_CLIENT",
    }
    assert set(record.images) == {"imageBase64", "bigImageBase64"}
    check_images_meet(record, images.FACE_PANEL)
    device.refresh_from_db()
    assert device.accepted_count == 1 and device.refused_count == 0 and device.last_seen_at is not None


def test_it_accepts_an_array_of_pass_events_by_owner_id_uuid_and_our_id(client, panel, community_a) -> None:
    _device, key = panel
    by_owner = ResidentFactory(community=community_a, city_owner_id="owner-1")
    by_uuid = ResidentFactory(community=community_a, city_owner_id=None, init_uuid=Resident.new_init_uuid(),
                              person_type=PersonType.SERVICE_STAFF, room=None)
    by_pk = ResidentFactory(community=community_a, city_owner_id="owner-3", person_type=PersonType.VISITOR)
    events = [
        {"person": "owner-1", "time": "2026-11-25T08:30:00+08:00", "image": capture_b64(), "direction": "out"},
        {"person": str(by_uuid.init_uuid), "time": "2026-11-25T00:31:00Z", "image": capture_b64(1280, 960)},
        {"person": by_pk.pk, "time": "2026-11-25 08:32:00", "image": capture_b64(2688, 1520)},
    ]
    status, body = post_json(client, PASS_URL, key, events)
    assert status == 200 and body["accepted"] == 3, body
    records = [DeviceEvent.objects.get(pk=int(r["id"])).outbox_record for r in body["results"]]
    assert [r.fields["userId"] for r in records] == ["owner-1", str(by_uuid.init_uuid), "owner-3"]
    assert [outbox.contract_fields(r, community_a)["type"] for r in records] == ["USER", "THE_WAITER", "VISITOR"]
    assert [r.fields["inout"] for r in records] == ["out", "in", "in"]
    # ISO 8601 with an offset becomes the city's Asia/Shanghai wall-clock time.
    assert [r.fields["openDate"] for r in records] == ["2026-11-25 08:30:00", "2026-11-25 08:31:00",
                                                       "2026-11-25 08:32:00"]
    assert by_owner.pk == DeviceEvent.objects.get(pk=int(body["results"][0]["id"])).resident_id
    for record in records:
        check_images_meet(record, images.FACE_PANEL)


def test_it_accepts_a_pass_event_as_multipart_with_a_face_crop(client, panel, resident) -> None:
    _device, key = panel
    crop = SimpleUploadedFile("face.jpg", photos.jpeg_bytes(photos.photo(900, 1100, seed=5)), "image/jpeg")
    status, body = post_multipart(client, PASS_URL, key, {"person": "owner-777", "time": now_text(),
                                                          "image": jpeg_file(), "faceImage": crop})
    assert status == 200 and body["accepted"] == 1, body
    record = OutboxRecord.objects.get()
    check_images_meet(record, images.FACE_PANEL)
    _data, small = stored_image(record.images["imageBase64"])
    assert small.height > small.width  # the small image is the portrait face crop


def test_it_accepts_an_array_of_pass_events_as_multipart(client, panel, resident) -> None:
    _device, key = panel
    status, body = post_multipart(client, PASS_URL, key, {
        "0.person": "owner-777", "0.time": now_text(), "0.image": jpeg_file(),
        "1.person": "owner-777", "1.time": now_text(), "1.image": jpeg_file("b.jpg", 1280, 960),
        "1.direction": "out",
    })
    assert status == 200 and body["accepted"] == 2, body
    assert sorted(OutboxRecord.objects.values_list("fields__inout", flat=True)) == ["in", "out"]


def test_it_accepts_a_rotated_phone_photo_and_a_png_with_alpha(client, panel, resident) -> None:
    _device, key = panel
    rotated = base64.encodebytes(photos.rotated_phone_jpeg(1600, 1200)).decode()  # wrapped at 76, as MIME does
    assert "\n" in rotated
    png = base64.b64encode(photos.png_with_alpha(1600, 1000)).decode()
    status, body = post_json(client, PASS_URL, key, [
        {"person": "owner-777", "time": now_text(), "image": rotated},
        {"person": "owner-777", "time": now_text(), "image": f"data:image/png;base64,{png}"},
    ])
    assert status == 200 and body["accepted"] == 2, body
    first = DeviceEvent.objects.get(pk=int(body["results"][0]["id"])).outbox_record
    _data, big = stored_image(first.images["bigImageBase64"])
    assert big.height > big.width and not big.getexif()  # upright and without the phone's EXIF
    check_images_meet(first, images.FACE_PANEL)
    check_images_meet(DeviceEvent.objects.get(pk=int(body["results"][1]["id"])).outbox_record, images.FACE_PANEL)


# --- Face and car snapshots ------------------------------------------------------------------------

def test_it_accepts_a_face_snapshot_as_json(client, face_camera) -> None:
    _device, key = face_camera
    status, body = post_json(client, FACE_URL, key, {
        "passType": 0, "time": "2026-11-25 09:00:00", "images": [capture_b64(), capture_b64(2688, 1520)],
        "idNumber": "11010519491231002x", "personName": "李四",
    })
    assert status == 200 and body["accepted"] == 1, body
    record = OutboxRecord.objects.get()
    assert record.endpoint == "image/people"
    assert record.all_fields == {"passType": 0, "passDate": "2026-11-25 09:00:00", "policePointId": "PP-FACE-1",
                                 "communityId": "CITY-A", "idNumber": "11010519491231002X", "personName": "李四"}
    # The ID number and name are stored encrypted, not in the plain JSON column.
    assert "idNumber" not in record.fields and "personName" not in record.fields
    with connection.cursor() as cursor:
        cursor.execute("SELECT fields, sealed FROM uploads_outboxrecord WHERE id = %s", [record.pk])
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert "11010519491231002X" not in stored and "李四" not in stored
    assert set(record.images) == {"photoBase1", "photoBase2"}
    check_images_meet(record, images.SNAPSHOT)


def test_it_accepts_face_snapshots_as_multipart_with_three_images(client, face_camera) -> None:
    _device, key = face_camera
    files = [jpeg_file(f"{n}.jpg", 1920, 1080, seed=n) for n in range(3)]
    status, body = post_multipart(client, FACE_URL, key, {"time": now_text(), "images": files})
    assert status == 200 and body["accepted"] == 1, body
    record = OutboxRecord.objects.get()
    assert record.fields["passType"] == 1  # the point's default direction is out
    assert "idNumber" not in record.fields and "personName" not in record.fields
    assert set(record.images) == {"photoBase1", "photoBase2", "photoBase3"}
    check_images_meet(record, images.SNAPSHOT)


def test_it_accepts_car_snapshots_as_a_json_array(client, car_camera) -> None:
    _device, key = car_camera
    status, body = post_json(client, CAR_URL, key, [
        {"plate": "川A12345", "plateType": "02", "passType": 0, "time": now_text(), "images": [capture_b64()]},
        {"plate": "川AD12345", "plateType": 52, "passType": "1", "time": now_text(), "images": capture_b64(1280, 960)},
        {"plate": "川A1234挂", "plateType": "15", "passType": 1, "time": now_text(), "images": [capture_b64()]},
    ])
    assert status == 200 and body["accepted"] == 3, body
    records = list(OutboxRecord.objects.order_by("id"))
    assert [r.fields["licensePlate"] for r in records] == ["川A12345", "川AD12345", "川A1234挂"]
    assert [r.fields["licensePlateType"] for r in records] == ["02", "52", "15"]  # the table's codes
    assert records[0].fields.keys() == {"licensePlate", "licensePlateType", "passDate", "passType",
                                        "policePointId", "communityId"}
    for record in records:
        check_images_meet(record, images.SNAPSHOT)
    assert list(DeviceEvent.objects.order_by("id").values_list("plate", flat=True)) == ["川A12345", "川AD12345",
                                                                                       "川A1234挂"]


def test_it_stores_the_plate_type_as_the_tables_code(client, car_camera) -> None:
    _device, key = car_camera
    status, body = post_multipart(client, CAR_URL, key, {"plate": "川a 12345", "plateType": "2", "passType": "0",
                                                         "time": now_text(), "images": [jpeg_file()]})
    assert status == 200 and body["accepted"] == 1, body
    record = OutboxRecord.objects.get()
    assert (record.fields["licensePlate"], record.fields["licensePlateType"]) == ("川A12345", "02")


# --- Bad requests: refused as a whole ---------------------------------------------------------------

def test_it_refuses_requests_without_a_valid_key(client, panel, resident) -> None:
    device, key = panel
    good = {"person": "owner-777", "time": now_text(), "image": capture_b64()}
    response = client.post(PASS_URL, data=json.dumps(good), content_type="application/json")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    for bad in ("dk_nothere.secret", key[:-2] + "xx", "not-a-key", key + " extra"):
        response = client.post(PASS_URL, data=json.dumps(good), content_type="application/json", **auth(bad))
        assert response.status_code == 401, bad
    revoke_device_key(device, acting_user=None)
    status, body = post_json(client, PASS_URL, key, good)
    assert status == 401 and "revoked" in body["detail"]
    assert not DeviceEvent.objects.exists() and not OutboxRecord.objects.exists()


def test_it_refuses_events_of_another_kind_of_device(client, car_camera, resident) -> None:
    _device, key = car_camera
    status, body = post_json(client, PASS_URL, key, {"person": "owner-777", "time": now_text(),
                                                     "image": capture_b64()})
    assert status == 403 and "vehicle snapshot" in body["detail"]
    assert not DeviceEvent.objects.exists()


@pytest.mark.parametrize(("body", "raw", "message"), [
    (None, b"{not json", "JSON parse error"),
    (None, b'{"person": "owner-777", "score": NaN}', "NaN is not a JSON number"),
    (None, b'{"person": "owner-\xff"}', "JSON parse error"),
    ([], None, "empty"),
    ("just a string", None, "event object or an array"),
    ([{}] * 101, None, "At most 100 events"),
])
def test_it_refuses_malformed_bodies(client, panel, body, raw, message) -> None:
    _device, key = panel
    data = raw if raw is not None else json.dumps(body)
    response = client.post(PASS_URL, data=data, content_type="application/json", **auth(key))
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not DeviceEvent.objects.exists()


def test_it_refuses_a_multipart_body_mixing_plain_and_indexed_fields(client, panel, resident) -> None:
    _device, key = panel
    status, body = post_multipart(client, PASS_URL, key, {"person": "owner-777", "0.time": now_text()})
    assert status == 400 and "not both" in body["detail"]


# --- Bad events: refused one by one, with the field and the reason ------------------------------------

def bad_pass_events(community_b) -> list[tuple[dict, str, str]]:
    """(event, refused field, words of the reason)."""
    stranger = ResidentFactory(community=community_b, city_owner_id="owner-of-b")
    good = {"person": "owner-777", "time": now_text(), "image": capture_b64()}
    tiny = base64.b64encode(capture(640, 480)).decode()
    bomb = base64.b64encode(photos.bomb_png()).decode()
    truncated = base64.b64encode(capture()[: len(capture()) // 2]).decode()
    return [
        ({**good, "person": stranger.city_owner_id}, "person", "unknown person"),  # another community's
        ({**good, "communityId": "CITY-B"}, "communityId", "device key"),
        ({**good, "policePointId": "PP-OTHER"}, "policePointId", "device key"),
        ({**good, "person": "nobody"}, "person", "unknown person"),
        ({**good, "person": ""}, "person", "required"),
        ({**good, "time": now_text(timedelta(hours=1))}, "time", "in the future"),
        ({**good, "time": "yesterday"}, "time", "not ISO 8601"),
        ({**good, "time": "2026-11-25T08:00:00"}, "time", "no offset"),
        ({**good, "time": "2026-02-30 12:00:00"}, "time", "not a real date"),
        ({**good, "time": "2020-01-01 12:00:00"}, "time", "older than 30 days"),
        ({**good, "time": 1764000000000}, "time", "required"),
        ({**good, "direction": "sideways"}, "direction", "“in” or “out”"),
        ({**good, "image": "%%%not base64%%%"}, "image", "not valid base64"),
        ({**good, "image": truncated}, "image", "corrupt or truncated"),
        ({**good, "image": base64.b64encode(b"GIF89a" + bytes(64)).decode()}, "image", "not a JPEG or PNG"),
        ({**good, "image": tiny}, "image", "640x480; at least 800x600"),
        ({**good, "image": bomb}, "image", "50.0 megapixels"),
        ({k: v for k, v in good.items() if k != "image"}, "image", "required"),
        ({**good, "faceImage": tiny}, "faceImage", "640x480"),
        ({**good, "color": "red"}, "color", "unknown field"),
    ]


def test_it_refuses_bad_pass_events_one_by_one(client, panel, resident, community_b) -> None:
    device, key = panel
    cases = bad_pass_events(community_b)
    events = [event for event, _field, _reason in cases] + [
        {"person": "owner-777", "time": now_text(), "image": capture_b64()}]  # one good event among them
    status, body = post_json(client, PASS_URL, key, events)
    assert status == 200 and body["accepted"] == 1 and body["refused"] == len(cases)
    for index, (_event, field, words) in enumerate(cases):
        got_field, reason = refusal(body, index)
        assert (got_field, words in reason) == (field, True), (index, got_field, reason)
    assert body["results"][-1]["status"] == "accepted"
    assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == 1
    device.refresh_from_db()
    assert (device.accepted_count, device.refused_count) == (1, len(cases))
    assert "faceImage" in device.last_refusal or "color" in device.last_refusal


@pytest.mark.parametrize("status_name", ["pending", "rejected", "expired"])
def test_it_refuses_passes_of_residents_who_may_not_pass(client, panel, resident, status_name) -> None:
    _device, key = panel
    Resident.objects.filter(pk=resident.pk).update(status=status_name)
    status, body = post_json(client, PASS_URL, key, {"person": "owner-777", "time": now_text(),
                                                     "image": capture_b64()})
    field, reason = refusal(body)
    assert status == 200 and field == "person"
    assert {"pending": "not yet approved", "rejected": "rejected", "expired": "expired"}[status_name] in reason
    assert not OutboxRecord.objects.exists()


def test_it_refuses_a_pass_outside_the_validity_window(client, panel, resident) -> None:
    _device, key = panel
    Resident.objects.filter(pk=resident.pk).update(valid_until=timezone.now() - timedelta(days=1))
    _status, body = post_json(client, PASS_URL, key, {"person": "owner-777", "time": now_text(),
                                                      "image": capture_b64()})
    assert refusal(body) == ("person", "the time is outside the resident's validity window")


def test_it_takes_the_future_skew_from_the_settings(client, panel, resident, settings) -> None:
    _device, key = panel
    event = {"person": "owner-777", "time": now_text(timedelta(seconds=120)), "image": capture_b64()}
    assert post_json(client, PASS_URL, key, event)[1]["accepted"] == 1  # default: 300 s tolerated
    settings.DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS = 30
    _status, body = post_json(client, PASS_URL, key, event)
    field, reason = refusal(body)
    assert field == "time" and "at most 30 are tolerated" in reason


def test_it_refuses_bad_car_snapshots_one_by_one(client, car_camera) -> None:
    device, key = car_camera
    good = {"plate": "川A12345", "plateType": "02", "passType": 0, "time": now_text(), "images": [capture_b64()]}
    cases = [
        ({**good, "plate": "川I12345"}, "plate", "not a licence plate"),  # I is never used
        ({**good, "plate": "AB12345"}, "plate", "not a licence plate"),
        ({**good, "plate": "川A123"}, "plate", "not a licence plate"),
        ({**good, "plate": ""}, "plate", "required"),
        ({**good, "plateType": "99"}, "plateType", "99 is not in the plate type table"),
        ({**good, "plateType": "small"}, "plateType", "code of the plate type table"),
        ({**good, "plateType": None}, "plateType", "required"),
        ({**good, "passType": 2}, "passType", "0 (in) or 1 (out)"),
        ({**good, "passType": True}, "passType", "0 (in) or 1 (out)"),
        ({**good, "images": []}, "images", "at least one"),
        ({**good, "images": [capture_b64()] * 4}, "images", "at most 3"),
        ({**good, "images": [capture_b64(), base64.b64encode(capture(1000, 750)).decode()]}, "images[1]",
         "1000x750; at least 1200x800"),
        ({**good, "images": [capture_b64(800, 600)]}, "images[0]", "at least 1200x800"),
    ]
    status, body = post_json(client, CAR_URL, key, [event for event, _f, _r in cases])
    assert status == 200 and body["refused"] == len(cases) and body["accepted"] == 0
    for index, (_event, field, words) in enumerate(cases):
        got_field, reason = refusal(body, index)
        assert got_field == field and words in reason, (index, got_field, reason)
    assert not OutboxRecord.objects.exists()
    assert Device.objects.get(pk=device.pk).refused_count == len(cases)


def test_it_refuses_bad_face_snapshots(client, face_camera) -> None:
    _device, key = face_camera
    good = {"passType": 1, "time": now_text(), "images": [capture_b64()]}
    cases = [
        ({**good, "idNumber": "110105194912310021"}, "idNumber", "check digit"),
        ({**good, "idNumber": "12345"}, "idNumber", "18 characters"),
        ({**good, "personName": "名" * 51}, "personName", "at most 50"),
        ({**good, "passType": "in"}, "passType", "0 (in) or 1 (out)"),
        ({**good, "images": None}, "images", "at least one"),
        ({**good, "images": ["@@@@"]}, "images[0]", "not valid base64"),
        ("not an object", "event", "must be an object"),
    ]
    status, body = post_json(client, FACE_URL, key, [event for event, _f, _r in cases])
    assert status == 200 and body["refused"] == len(cases)
    for index, (_event, field, words) in enumerate(cases):
        got_field, reason = refusal(body, index)
        assert got_field == field and words in reason, (index, got_field, reason)
    assert not OutboxRecord.objects.exists()


def test_it_reports_every_bad_field_of_an_event(client, car_camera) -> None:
    _device, key = car_camera
    _status, body = post_json(client, CAR_URL, key, {"plate": "x", "plateType": "99", "time": "soon",
                                                     "images": [capture_b64()]})
    assert {e["field"] for e in body["results"][0]["errors"]} == {"plate", "plateType", "time"}


def test_it_answers_in_chinese_unless_asked_otherwise(client, car_camera) -> None:
    _device, key = car_camera
    response = client.post(CAR_URL, data=json.dumps({"plate": "川I12345", "plateType": "02", "time": now_text(),
                                                      "images": [capture_b64()]}),
                            content_type="application/json", **auth(key, language="zh-hans"))
    assert refusal(response.json()) == (
        "plate", "不是有效车牌：省份简称 + 字母 + 5 位字符（新能源车牌 6 位），如 川A12345 或 川AD12345")


def test_it_caps_the_size_of_a_request(client, panel, resident, settings) -> None:
    settings.DEVICE_API_MAX_BODY_BYTES = 100_000
    _device, key = panel
    status, body = post_json(client, PASS_URL, key, {"person": "owner-777", "time": now_text(),
                                                     "image": capture_b64()})
    assert status == 413 and "send fewer events" in body["detail"]
    assert not DeviceEvent.objects.exists()


def test_it_accepts_a_json_body_above_djangos_memory_limit_up_to_its_own(client, panel, resident, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    settings.DEVICE_API_MAX_BODY_BYTES = 3_000_000
    _device, key = panel
    body = json.dumps([{"person": "owner-777", "time": now_text(), "image": capture_b64()}])
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < settings.DEVICE_API_MAX_BODY_BYTES
    response = client.post(PASS_URL, data=body, content_type="application/json", **auth(key))
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content[:300]


def test_it_answers_in_json_when_a_multipart_body_has_too_many_files(client, panel, resident, settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    _device, key = panel
    data = {}
    for n in range(3):
        data |= {f"{n}.person": "owner-777", f"{n}.time": now_text(), f"{n}.image": jpeg_file(f"{n}.jpg", 800, 600)}
    status, body = post_multipart(client, PASS_URL, key, data)
    assert status == 400 and "Too many parts" in body["detail"]
    assert not DeviceEvent.objects.exists()


def test_it_answers_a_resent_event_with_the_first_answer(client, panel, resident) -> None:
    device, key = panel
    event = {"eventId": "cam7-000123", "person": "owner-777", "time": now_text(), "image": capture_b64()}
    first = post_json(client, PASS_URL, key, event)[1]["results"][0]
    # The answer was lost: the device sends it again, alone and then twice in one batch.
    again = post_json(client, PASS_URL, key, event)[1]["results"][0]
    _status, batch = post_json(client, PASS_URL, key, [event, {**event, "eventId": "cam7-000124"}, event])
    assert again == {**first, "duplicate": True}
    assert [r.get("duplicate", False) for r in batch["results"]] == [True, False, True]
    assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == 2
    assert DeviceEvent.objects.get(pk=int(first["id"])).device_event_id == "cam7-000123"
    device.refresh_from_db()
    assert device.accepted_count == 2
    _status, body = post_json(client, PASS_URL, key, {**event, "eventId": "x" * 65})
    assert refusal(body) == ("eventId", "must be text or a number of at most 64 characters")


def event_of(kind: str, n: int, multipart: bool) -> dict:
    """A good event of each kind; images as files for multipart, base64 for JSON."""
    def image(width: int = 1920, height: int = 1080):
        return jpeg_file(f"{kind}-{n}.jpg", width, height, seed=n) if multipart else capture_b64(width, height, n)

    if kind == "pass":
        return {"person": "owner-777", "time": now_text(), "image": image(), "direction": ("in", "out")[n % 2]}
    if kind == "face":
        return {"passType": n % 2, "time": now_text(), "images": [image(), image(2688, 1520)],
                "personName": f"访客{n}"}
    return {"plate": f"川A1234{n}", "plateType": "02", "passType": n % 2, "time": now_text(), "images": [image()]}


@pytest.mark.parametrize("shape", ["single", "array"])
@pytest.mark.parametrize("encoding", ["json", "multipart"])
@pytest.mark.parametrize("kind", ["pass", "face", "car"])
def test_it_accepts_every_kind_in_every_encoding_and_shape(client, panel, face_camera, car_camera, resident,
                                                           kind, encoding, shape) -> None:
    url, (_device, key) = {"pass": (PASS_URL, panel), "face": (FACE_URL, face_camera),
                           "car": (CAR_URL, car_camera)}[kind]
    multipart = encoding == "multipart"
    events = [event_of(kind, n, multipart) for n in range(1 if shape == "single" else 3)]
    if not multipart:
        status, body = post_json(client, url, key, events[0] if shape == "single" else events)
    elif shape == "single":
        status, body = post_multipart(client, url, key, events[0])
    else:
        status, body = post_multipart(client, url, key, {f"{n}.{name}": value for n, event in enumerate(events)
                                                         for name, value in event.items()})
    assert status == 200 and body["accepted"] == len(events) and body["refused"] == 0, body
    assert [r["index"] for r in body["results"]] == list(range(len(events)))
    records = [DeviceEvent.objects.get(pk=int(r["id"])).outbox_record for r in body["results"]]
    endpoint = {"pass": "person-inout-info", "face": "image/people", "car": "image/car"}[kind]
    assert {r.endpoint for r in records} == {endpoint}
    direction_field = "inout" if kind == "pass" else "passType"
    assert [r.fields[direction_field] for r in records] == [
        ("in", "out")[n % 2] if kind == "pass" else n % 2 for n in range(len(events))]
    for record in records:
        check_images_meet(record, images.FACE_PANEL if kind == "pass" else images.SNAPSHOT)
        assert len(record.images) == {"pass": 2, "face": 2, "car": 1}[kind]
