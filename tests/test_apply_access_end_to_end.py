"""End to end with real processes: the sandbox city pushes people to the portal's live server over
HTTP, a real Celery worker fetches the photos from a local photo host, a guard decides, and the
admission results reach the sandbox city's callback through the outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from residents.models import Resident
from tests.factories import make_id_card
from tests.photo_server import PhotoServer
from tests.processes import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"UPLOAD_RETRY_BASE_SECONDS": "0.2", "UPLOAD_RETRY_MAX_SECONDS": "1", "UPLOAD_SWEEP_SECONDS": "1",
        "PHOTO_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32", "PHOTO_FETCH_RETRY_BASE_SECONDS": "0.2"}


@pytest.fixture
def photo_host() -> Iterator[PhotoServer]:
    server = PhotoServer()
    try:
        yield server
    finally:
        server.close()


def person(serial: int, ywlsh: str, photo_url: str, **overrides) -> dict:
    data = {"address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": f"居民{serial}",
            "idCard": make_id_card(serial), "photo": photo_url, "source": "01", "type": "01",
            "phone": "13812345678", "communityId": "CITY-A", "ownerId": f"OWNER-{serial}", "ywlsh": ywlsh, "xbdm": 1}
    data.update(overrides)
    return data


def wait_for(predicate, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_it_receives_from_the_city_and_answers_back(live_server, sandbox_city, photo_host: PhotoServer,
                                                     community_a, gary, output_dir: Path) -> None:
    community_a.registration_callback_url = f"{sandbox_city.url}/_sandbox/callback"
    community_a.save()
    worker = start_worker(output_dir, name="e2e-worker", beat=True, CITY_PLATFORM_BASE_URL=sandbox_city.url, **FAST)
    try:
        portal = f"{live_server.url}/apply-access"
        answers = [
            sandbox_city.push_apply_access(portal, person(1, "YW-1", photo_host.url("/rotated.jpg"))),
            sandbox_city.push_apply_access(portal, person(1, "YW-1", photo_host.url("/rotated.jpg"))),  # resent
            sandbox_city.push_apply_access(portal, person(2, "YW-2", photo_host.url("/ok.png"))),
            sandbox_city.push_apply_access(portal, person(3, "YW-3", photo_host.url("/ok.jpg"), type="07")),
        ]
        assert [(a["status"], json.loads(a["body"])) for a in answers] == [
            (200, {"code": 1, "message": ""}), (200, {"code": 1, "message": ""}), (200, {"code": 1, "message": ""}),
            (200, {"code": 0, "message": "type: 必须为 01 至 05 之一"})]
        # Answered on acceptance; the worker applies the calls (nudged, not waiting for the sweep).
        wait_for(lambda: Resident.objects.count() == 2, timeout=30)
        wait_for(lambda: Resident.objects.filter(photo_status=Resident.PhotoStatus.OK).count() == 2)
        assert photo_host.hits["/rotated.jpg"] == 1  # the resend fetched nothing again

        guard = Client()
        guard.force_login(gary)
        first, second = Resident.objects.get(ywlsh="YW-1"), Resident.objects.get(ywlsh="YW-2")
        guard.post(f"/guard/{first.pk}/approve/")
        guard.post(f"/guard/{second.pk}/reject/", {"reason": "照片模糊"})

        callbacks = wait_for(lambda: (lambda got: got if len(got) >= 2 else None)(sandbox_city.callbacks()))
    finally:
        worker.stop()
    bodies = sorted(callbacks, key=lambda b: b["ywlsh"])
    assert [{k: b[k] for k in ("ywlsh", "ownerId", "communityId", "result", "reason")} for b in bodies] == [
        {"ywlsh": "YW-1", "ownerId": "OWNER-1", "communityId": "CITY-A", "result": "approved", "reason": ""},
        {"ywlsh": "YW-2", "ownerId": "OWNER-2", "communityId": "CITY-A", "result": "rejected", "reason": "照片模糊"},
    ]
    assert all(len(b["time"]) == 19 for b in bodies)
