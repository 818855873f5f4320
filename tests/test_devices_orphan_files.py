"""A device event whose transaction rolls back after its images were written keeps no file: the outbox
images are written inside the transaction (before the row that names them), so a failure after the write
— the row's save, anything later in the same block — must delete them again, or they stay on disk with no
row pointing at them (faces and plates of passers-by, never purged by the outbox's retention)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from communities.models import MonitoringPoint
from devices.models import DeviceEvent
from tests.device_helpers import auth, capture_b64, make_device
from uploads import services as upload_services
from uploads.models import OutboxRecord

CAR_URL = "/api/v1/devices/car-snapshots"


def outbox_files() -> set[Path]:
    return {p for p in (Path(settings.MEDIA_ROOT) / "outbox").rglob("*") if p.is_file()}


@pytest.fixture
def car_camera(community_a):
    return make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")


def car_event() -> dict:
    return {"plate": "川A12345", "plateType": "02", "passType": 0, "eventId": "cam-1",
            "time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "images": [capture_b64(), capture_b64()]}


def post(client, key: str, event: dict):
    return client.post(CAR_URL, data=json.dumps(event), content_type="application/json", **auth(key))


def fail_outbox_row_save(monkeypatch: pytest.MonkeyPatch, written: list) -> None:
    """Inside enqueue_record, after both images are written: the row cannot be saved."""
    def save(self, *args, **kwargs):
        written.extend(self.images.values())
        raise DatabaseError("simulated: the outbox row could not be saved")
    monkeypatch.setattr(OutboxRecord, "save", save)


def fail_after_outbox_row(monkeypatch: pytest.MonkeyPatch, written: list) -> None:
    """Inside enqueue_record, after the images and the row: the last step raises."""
    def nudge(community_id: int, endpoint: str) -> None:
        written.extend(OutboxRecord.objects.get().images.values())
        raise DatabaseError("simulated: failure after the outbox row was saved")
    monkeypatch.setattr(upload_services, "nudge_on_commit", nudge)


def fail_after_enqueue(monkeypatch: pytest.MonkeyPatch, written: list) -> None:
    """In the device event's transaction, after enqueue_record returned: the event's link to its row
    cannot be saved."""
    real = DeviceEvent.save

    def save(self, *args, **kwargs):
        if "outbox_record" not in (kwargs.get("update_fields") or ()):
            return real(self, *args, **kwargs)
        written.extend(self.outbox_record.images.values())
        raise DatabaseError("simulated: failure after enqueue_record")
    monkeypatch.setattr(DeviceEvent, "save", save)


def fail_at_commit(monkeypatch: pytest.MonkeyPatch, written: list) -> None:
    """Everything is written, then the commit of the device event's transaction fails."""
    def commit() -> None:
        written.extend(OutboxRecord.objects.get().images.values())
        raise DatabaseError("simulated: the commit failed")
    monkeypatch.setattr(connection, "commit", commit)


FAILURES = [fail_outbox_row_save, fail_after_outbox_row, fail_after_enqueue]


@pytest.mark.parametrize("fail", FAILURES, ids=["row-save", "after-row", "after-enqueue"])
def test_it_deletes_the_images_written_when_the_transaction_rolls_back(client, car_camera, monkeypatch, fail) -> None:
    check_rollback_leaves_no_file(client, car_camera, monkeypatch, fail)


@pytest.mark.django_db(transaction=True)
def test_it_deletes_the_images_written_when_the_commit_fails(client, car_camera, monkeypatch) -> None:
    # A real transaction (not the test's savepoint), so that the device event's block is the one that commits.
    check_rollback_leaves_no_file(client, car_camera, monkeypatch, fail_at_commit)


def check_rollback_leaves_no_file(client, car_camera, monkeypatch, fail) -> None:
    _device, key = car_camera
    before = outbox_files()
    written: list[str] = []
    with monkeypatch.context() as patch:
        fail(patch, written)
        with pytest.raises(DatabaseError, match="simulated"):
            post(client, key, car_event())
    assert len(written) == 2, "the failure must come after both images were written"
    assert not DeviceEvent.objects.exists() and not OutboxRecord.objects.exists()
    assert not any((Path(settings.MEDIA_ROOT) / path).exists() for path in written)
    assert outbox_files() == before

    response = post(client, key, car_event())  # the device resends: stored, with its files
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    record = OutboxRecord.objects.get()
    assert DeviceEvent.objects.get().outbox_record == record
    assert all((Path(settings.MEDIA_ROOT) / p).is_file() for p in record.images.values())
    assert outbox_files() == before | {Path(settings.MEDIA_ROOT) / p for p in record.images.values()}
