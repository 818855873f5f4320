"""A device batch never outlives the web server's timeout: one request asks the image pipeline for at most
DEVICE_API_MAX_PIXELS_PER_REQUEST decoded pixels (read from the images' headers, before any decode) and
DEVICE_API_BUDGET_SECONDS; the events beyond are refused by event, with ``resend``, and nothing of them is
stored; and the accepted events are committed together, after all the image work, just before the answer, so a
request that dies on the way (gunicorn's timeout ends a worker with SystemExit) commits nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Hashable
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from communities.models import MonitoringPoint
from devices import images, ingest
from devices.models import Device, DeviceEvent
from tests import photos
from tests.device_helpers import auth, capture, make_device
from uploads.models import OutboxRecord

CAR_URL = "/api/v1/devices/car-snapshots"
WIDTH, HEIGHT = 1280, 960  # a PNG above the snapshot minimum (1200x800): decoded in full
PIXELS = WIDTH * HEIGHT


@cache
def png_b64(seed: int) -> str:
    return base64.b64encode(photos.png_bytes(photos.photo(WIDTH, HEIGHT, seed=seed))).decode()


def car_event(number: int) -> dict:
    return {"plate": f"川A1234{number}", "plateType": "02", "passType": 0, "eventId": f"cam-{number}",
            "time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "images": [png_b64(number)]}


def outbox_files() -> set[Path]:
    return {p for p in (Path(settings.MEDIA_ROOT) / "outbox").rglob("*") if p.is_file()}


def post(client, key: str, events: list[dict]) -> tuple[int, dict]:
    response = client.post(CAR_URL, data=json.dumps(events), content_type="application/json", **auth(key))
    return response.status_code, response.json()


@pytest.fixture
def car_camera(community_a):
    return make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")


def assert_deferred(result: dict, index: int) -> None:
    assert result["index"] == index and result["status"] == "refused" and result["resend"] is True, result
    assert result["field"] == "event" and "send it again" in result["reason"], result


def test_it_refuses_the_events_beyond_the_pixel_budget_and_accepts_them_when_sent_again(client, car_camera) -> None:
    device, key = car_camera
    before = outbox_files()
    events = [car_event(n) for n in range(5)]
    with override_settings(DEVICE_API_MAX_PIXELS_PER_REQUEST=int(3.5 * PIXELS)):
        status, body = post(client, key, events)
        assert status == 200, body
        assert (body["accepted"], body["refused"]) == (3, 2), body
        assert [r["status"] for r in body["results"][:3]] == ["accepted"] * 3
        for index in (3, 4):
            assert_deferred(body["results"][index], index)
        # Nothing of the refused events is stored: no event, no outbox row, no file.
        assert sorted(DeviceEvent.objects.values_list("device_event_id", flat=True)) == ["cam-0", "cam-1", "cam-2"]
        assert OutboxRecord.objects.count() == 3
        assert outbox_files() - before == {Path(settings.MEDIA_ROOT) / p for r in OutboxRecord.objects.all()
                                           for p in r.images.values()}
        # A deferral is the server's limit, not the device's fault.
        device.refresh_from_db()
        assert (device.accepted_count, device.refused_count, device.last_refusal) == (3, 0, "")

        status, body = post(client, key, events[3:])  # the device sends the refused tail again
        assert status == 200 and (body["accepted"], body["refused"]) == (2, 0), body
    assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == 5
    assert sorted(DeviceEvent.objects.values_list("device_event_id", flat=True)) == [f"cam-{n}" for n in range(5)]


def test_it_admits_the_first_event_whatever_its_pixels_so_every_request_makes_progress(client, car_camera) -> None:
    _device, key = car_camera
    with override_settings(DEVICE_API_MAX_PIXELS_PER_REQUEST=1):
        status, body = post(client, key, [car_event(0), car_event(1)])
    assert status == 200 and body["results"][0]["status"] == "accepted", body
    assert_deferred(body["results"][1], 1)


def test_it_refuses_the_events_after_the_time_budget(client, car_camera) -> None:
    _device, key = car_camera
    with override_settings(DEVICE_API_BUDGET_SECONDS=0):
        status, body = post(client, key, [car_event(n) for n in range(3)])
    assert status == 200 and (body["accepted"], body["refused"]) == (1, 2), body
    assert_deferred(body["results"][1], 1)
    assert_deferred(body["results"][2], 2)
    assert list(DeviceEvent.objects.values_list("device_event_id", flat=True)) == ["cam-0"]


def test_it_still_gives_a_bad_event_beyond_the_budget_its_own_reason(client, car_camera) -> None:
    _device, key = car_camera
    bad = {**car_event(2), "plate": "not a plate"}
    with override_settings(DEVICE_API_MAX_PIXELS_PER_REQUEST=PIXELS):
        _status, body = post(client, key, [car_event(0), car_event(1), bad])
    assert_deferred(body["results"][1], 1)
    assert body["results"][2]["field"] == "plate" and "resend" not in body["results"][2], body


@pytest.mark.django_db(transaction=True)
def test_it_commits_nothing_when_the_request_dies_during_the_image_work(client, car_camera, monkeypatch) -> None:
    # gunicorn's timeout ends a sync worker with SystemExit wherever it is: here, in the third event's images.
    _device, key = car_camera
    real_fit, calls = images.fit, []

    def fit(image: Image.Image, rule: images.ImageRule, hint: Hashable = None) -> images.ProcessedImage:
        calls.append(rule)
        if len(calls) == 3:
            raise SystemExit(1)
        return real_fit(image, rule, hint)

    before = outbox_files()
    with monkeypatch.context() as patch:
        patch.setattr(images, "fit", fit)
        with pytest.raises(SystemExit):
            post(client, key, [car_event(n) for n in range(4)])
    assert not DeviceEvent.objects.exists() and not OutboxRecord.objects.exists()
    assert outbox_files() == before

    status, body = post(client, key, [car_event(n) for n in range(4)])  # the resend: no duplicates
    assert status == 200 and body["accepted"] == 4, body
    assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_it_commits_nothing_and_keeps_no_file_when_the_last_step_before_the_answer_fails(client, car_camera, monkeypatch) -> None:
    _device, key = car_camera
    before = outbox_files()

    def count_answers(device: Device, answers: list) -> None:
        assert OutboxRecord.objects.count() == 3  # every event and its files were written
        raise DatabaseError("simulated: the device's counters could not be saved")

    with monkeypatch.context() as patch:
        patch.setattr(ingest.store, "count_answers", count_answers)
        with pytest.raises(DatabaseError, match="simulated"):
            post(client, key, [car_event(n) for n in range(3)])
    assert not DeviceEvent.objects.exists() and not OutboxRecord.objects.exists()
    assert outbox_files() == before


def test_it_reads_the_decoded_pixels_from_the_header_without_decoding(monkeypatch) -> None:
    def load(self: Image.Image) -> None:
        raise AssertionError("decoded")

    data, png = capture(4000, 3000), base64.b64decode(png_b64(0))
    monkeypatch.setattr(Image.Image, "load", load)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", load)
    # JPEG is drafted: to 1/4 for the face panel's 800x600 minimum, to 1/2 for the snapshots' 1200x800.
    assert images.decoded_pixels(data, images.FACE_PANEL) == 1000 * 750
    assert images.decoded_pixels(data, images.SNAPSHOT) == 2000 * 1500
    assert images.decoded_pixels(png, images.SNAPSHOT) == PIXELS
    assert images.decoded_pixels(b"not an image", images.SNAPSHOT) == 0


def test_it_tells_the_device_in_chinese_to_send_a_deferred_event_again(client, car_camera) -> None:
    _device, key = car_camera
    with override_settings(DEVICE_API_MAX_PIXELS_PER_REQUEST=PIXELS):
        response = client.post(CAR_URL, data=json.dumps([car_event(0), car_event(1)]),
                               content_type="application/json", **auth(key, "zh-hans"))
    refused = response.json()["results"][1]
    assert refused["resend"] is True and "重新发送" in refused["reason"] and "未保存" in refused["reason"], refused


def test_it_stores_an_event_sent_twice_in_one_batch_once(client, car_camera) -> None:
    device, key = car_camera
    before = outbox_files()
    status, body = post(client, key, [car_event(0), car_event(1), car_event(0)])
    assert status == 200 and body["accepted"] == 3, body
    first, _second, again = body["results"]
    assert again["duplicate"] is True and again["id"] == first["id"], body
    assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == 2
    assert outbox_files() - before == {Path(settings.MEDIA_ROOT) / p for r in OutboxRecord.objects.all()
                                       for p in r.images.values()}
    device.refresh_from_db()
    assert device.accepted_count == 2


def test_it_fails_the_system_check_when_the_budget_is_not_well_under_gunicorns_timeout() -> None:
    from devices.checks import budget_under_gunicorn_timeout

    assert budget_under_gunicorn_timeout() == []  # the defaults: 10 s of 30 s
    with override_settings(GUNICORN_TIMEOUT=30.0, DEVICE_API_BUDGET_SECONDS=20.0):
        errors = budget_under_gunicorn_timeout()
    assert [e.id for e in errors] == ["devices.E001"] and "GUNICORN_TIMEOUT" in errors[0].msg
