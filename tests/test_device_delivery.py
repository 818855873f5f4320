"""Accepted device events reach the sandbox city platform through the outbox, sent by a real Celery
worker process, with the contract's fields and images the sandbox accepts; refused events never leave."""

from __future__ import annotations

import base64
import json
import time

import pytest

from communities.models import MonitoringPoint
from devices import images
from devices.models import DeviceEvent
from tests import photos
from tests.device_helpers import auth, capture, capture_b64, make_device
from tests.factories import CommunityFactory, ResidentFactory, SiteCredentialFactory
from tests.processes import start_worker
from uploads.models import OutboxRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"UPLOAD_RETRY_BASE_SECONDS": "0.2", "UPLOAD_RETRY_MAX_SECONDS": "1", "UPLOAD_SWEEP_SECONDS": "1",
        # No worker dies here: a lease longer than a send can take on a loaded 2-core machine (6 s was not:
        # 1.6 MB batches were claimed again and sent twice when three suites ran at once).
        "UPLOAD_LEASE_SECONDS": "60", "UPLOAD_DRAIN_BUDGET_SECONDS": "10"}
MIN_SIZE = {"person-inout-info": images.RULES[images.FACE_PANEL], "image/people": images.RULES[images.SNAPSHOT],
            "image/car": images.RULES[images.SNAPSHOT]}


def post(client, url: str, key: str, body) -> dict:
    response = client.post(url, data=json.dumps(body), content_type="application/json", **auth(key))
    assert response.status_code == 200, response.content
    return response.json()


def wait_for_records(sandbox, count: int, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = sandbox.records()
        if len(records) >= count:
            return records
        time.sleep(0.5)
    statuses = list(OutboxRecord.objects.values_list("endpoint", "status", "last_error"))
    pytest.fail(f"{len(sandbox.records())} of {count} records arrived; outbox {statuses}; sandbox {sandbox.stats()}")


def test_it_delivers_accepted_events_to_the_city(client, sandbox_city, output_dir) -> None:
    community = CommunityFactory(city_id="CITY-DEV")
    SiteCredentialFactory(community=community)
    ResidentFactory(community=community, city_owner_id="owner-42")
    _panel, panel_key = make_device(community, MonitoringPoint.Kind.FACE_PANEL, police_point_id="PP-GATE")
    _face, face_key = make_device(community, MonitoringPoint.Kind.FACE_SNAPSHOT, police_point_id="PP-LOBBY")
    _car, car_key = make_device(community, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-GARAGE")
    worker = start_worker(output_dir, beat=True, CITY_PLATFORM_BASE_URL=sandbox_city.url, **FAST)
    try:
        crop = base64.b64encode(photos.jpeg_bytes(photos.photo(900, 1100, seed=7))).decode()
        passes = post(client, "/api/v1/devices/pass-events", panel_key, [
            {"person": "owner-42", "time": "2026-11-25T08:00:00+08:00", "image": capture_b64(2688, 1520)},
            {"person": "owner-42", "time": "2026-11-25 08:01:00", "image": capture_b64(), "faceImage": crop,
             "direction": "out"},
            {"person": "nobody", "time": "2026-11-25 08:02:00", "image": capture_b64()},  # refused
        ])
        assert (passes["accepted"], passes["refused"]) == (2, 1)
        rotated = base64.b64encode(photos.rotated_phone_jpeg(1600, 1200)).decode()
        faces = post(client, "/api/v1/devices/face-snapshots", face_key, {
            "passType": 0, "time": "2026-11-25 08:03:00", "images": [capture_b64(2688, 1520), capture_b64()],
            "personName": "访客甲"})
        cars = post(client, "/api/v1/devices/car-snapshots", car_key, {
            "plate": "川AD12345", "plateType": "52", "passType": 1, "time": "2026-11-25 08:04:00",
            "images": [base64.b64encode(capture(1920, 1080, seed=2)).decode()]})
        pass_with_rotated = post(client, "/api/v1/devices/pass-events", panel_key, {
            "person": "owner-42", "time": "2026-11-25 08:05:00", "image": rotated})
        assert faces["accepted"] == cars["accepted"] == pass_with_rotated["accepted"] == 1

        records = wait_for_records(sandbox_city, 5)
    finally:
        worker.stop()

    by_endpoint: dict[str, list[dict]] = {}
    for record in records:
        by_endpoint.setdefault(record["endpoint"], []).append(record["fields"])
    assert {k: len(v) for k, v in by_endpoint.items()} == {"person-inout-info": 3, "image/people": 1, "image/car": 1}
    event_ids = {str(pk) for pk in DeviceEvent.objects.filter(kind="pass").values_list("pk", flat=True)}
    pass_records = sorted(by_endpoint["person-inout-info"], key=lambda f: f["openDate"])
    assert {f["outId"] for f in pass_records} == event_ids
    assert [(f["openDate"], f["inout"], f["userId"], f["policePointId"], f["communityId"]) for f in pass_records] == [
        ("2026-11-25 08:00:00", "in", "owner-42", "PP-GATE", "CITY-DEV"),
        ("2026-11-25 08:01:00", "out", "owner-42", "PP-GATE", "CITY-DEV"),
        ("2026-11-25 08:05:00", "in", "owner-42", "PP-GATE", "CITY-DEV"),
    ]
    [face] = by_endpoint["image/people"]
    assert (face["passType"], face["personName"], face["policePointId"]) == (0, "访客甲", "PP-LOBBY")
    assert set(face) >= {"photoBase1", "photoBase2"} and "photoBase3" not in face
    [car] = by_endpoint["image/car"]
    assert (car["licensePlate"], car["licensePlateType"], car["passType"]) == ("川AD12345", 52, 1)
    # The sandbox checked every image (JPEG, size, bytes) and kept what it measured.
    for endpoint, fields_list in by_endpoint.items():
        rule = MIN_SIZE[endpoint]
        for fields in fields_list:
            for name, info in fields.items():
                if name.startswith(("image", "bigImage", "photoBase")):
                    assert info["bytes"] <= rule.max_bytes and rule.meets_minimum(*info["size"]), (name, info)
    assert set(OutboxRecord.objects.values_list("status", flat=True)) == {"sent"}
    assert sandbox_city.stats().get("rejected", 0) == 0
