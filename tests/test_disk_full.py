"""Disk full for the media folder: a device event whose images cannot be written is refused with the reason,
nothing half-stored is kept (no event, no outbox row, no file), and the same event sent again once there is
room is accepted. The real ENOSPC (a full tmpfs, through gunicorn and a worker) is `make drills`' disk_full;
here the filesystem's answer is simulated at its edge (FileSystemStorage._save), on the second image write."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from communities.models import MonitoringPoint
from devices.models import DeviceEvent
from tests.device_helpers import auth, capture_b64, make_device
from uploads.models import OutboxRecord

CAR_URL = "/api/v1/devices/car-snapshots"


def outbox_files() -> list[Path]:
    return [p for p in (Path(settings.MEDIA_ROOT) / "outbox").rglob("*") if p.is_file()]


@pytest.fixture
def car_camera(community_a):
    return make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")


def post(client, key: str, event: dict) -> dict:
    response = client.post(CAR_URL, data=json.dumps(event), content_type="application/json", **auth(key))
    assert response.status_code == 200, response.content
    return response.json()


def test_it_refuses_an_event_whose_images_cannot_be_written_and_keeps_nothing_of_it(client, car_camera) -> None:
    _device, key = car_camera
    event = {"plate": "川A12345", "plateType": "02", "passType": 0, "eventId": "cam-1",
             "time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "images": [capture_b64(), capture_b64()]}
    before = outbox_files()
    real_save = FileSystemStorage._save
    calls = []

    def save_then_full(storage, name, content):
        calls.append(name)
        if len(calls) == 1:
            return real_save(storage, name, content)  # the first image fits, the second does not
        raise OSError(errno.ENOSPC, "No space left on device")

    with mock.patch.object(FileSystemStorage, "_save", save_then_full):
        body = post(client, key, event)
    assert len(calls) == 2
    assert body["accepted"] == 0 and body["refused"] == 1
    assert body["results"][0]["field"] == "images"
    assert "storage is full" in body["results"][0]["reason"]
    assert not DeviceEvent.objects.exists() and not OutboxRecord.objects.exists()
    assert outbox_files() == before  # the first image, written, was removed again

    body = post(client, key, event)  # room again: the device resends
    assert body["accepted"] == 1, body
    record = OutboxRecord.objects.get()
    assert len(record.images) == 2 and all((Path(settings.MEDIA_ROOT) / p).is_file() for p in record.images.values())
