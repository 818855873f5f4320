"""Through a real gunicorn (deploy/gunicorn.conf.py) with a short timeout: a batch of large PNGs, each within
every limit, whose image work is longer than the timeout, gets its answer before it; the first events are
accepted and stored, the rest refused with ``resend``, and the refused ones sent again are accepted."""

from __future__ import annotations

import base64
import io
import json
import socket
import sys
import time
import urllib.request
from functools import cache
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from communities.models import MonitoringPoint
from devices.models import DeviceEvent
from tests.device_helpers import make_device
from tests.processes import ManagedProcess, child_env
from uploads.models import OutboxRecord

TIMEOUT = 10  # gunicorn's; DEVICE_API_BUDGET_SECONDS follows it (a third)
EVENTS = 12  # two 23.5 MP PNGs each: about 1.3 s of image work per event here, far more than TIMEOUT in all


@cache
def big_png_b64(seed: int) -> str:
    """A smooth 5600x4200 PNG (under the 24 MP limit): small on the wire, costly to decode."""
    ramp = Image.linear_gradient("L").resize((5600, 4200))
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.ROTATE_180), ramp.point(lambda v: v ^ seed)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return base64.b64encode(buffer.getvalue()).decode()


def car_event(number: int) -> dict:
    return {"plate": f"川A{12300 + number}", "plateType": "02", "passType": 0, "eventId": f"big-{number}",
            "time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "images": [big_png_b64(1), big_png_b64(2)]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, key: str, events: list[dict]) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/devices/car-snapshots",
                                     data=json.dumps(events).encode(), method="POST",
                                     headers={"Authorization": f"Token {key}", "Content-Type": "application/json",
                                              "Accept-Language": "en"})
    with urllib.request.urlopen(request, timeout=TIMEOUT * 3) as response:
        return json.loads(response.read())


@pytest.mark.django_db(transaction=True)
def test_it_answers_a_batch_longer_than_gunicorns_timeout_before_it(community_a, tmp_path: Path) -> None:
    _device, key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")
    events = [car_event(n) for n in range(EVENTS)]
    port = free_port()
    web = ManagedProcess("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                      "afxq_portal.wsgi"], tmp_path,
                         child_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1",
                                   GUNICORN_TIMEOUT=str(TIMEOUT)))
    try:
        web.wait_for_output("Booting worker", timeout=60)
        started = time.monotonic()
        body = post(port, key, events)
        took = time.monotonic() - started
        assert took < TIMEOUT, took
        accepted = [r["index"] for r in body["results"] if r["status"] == "accepted"]
        assert accepted == list(range(len(accepted))) and 1 <= len(accepted) < EVENTS, body
        for result in body["results"][len(accepted):]:
            assert result["resend"] is True and "send it again" in result["reason"], result
        stored = set(DeviceEvent.objects.values_list("device_event_id", flat=True))
        assert stored == {f"big-{n}" for n in accepted}
        assert OutboxRecord.objects.count() == len(accepted)

        rest = events[len(accepted):]
        for _ in range(EVENTS):  # the device resends the refused tail until all is accepted
            if not rest:
                break
            body = post(port, key, rest)
            done = sum(1 for r in body["results"] if r["status"] == "accepted")
            assert done >= 1, body
            rest = rest[done:]
        assert not rest
        assert DeviceEvent.objects.count() == OutboxRecord.objects.count() == EVENTS
        assert "WORKER TIMEOUT" not in web.output()
    finally:
        web.stop()
