"""Benchmark of the ingest API (devices/api.py): pass events per second through the whole request
(key check, field checks, image pipeline, event + outbox row + image files), in-process with Django's
test client on a throw-away SQLite database, against the image pipeline alone on the same captures in
the same run. Not a test: nothing is asserted. Run: `make bench` or `.venv/bin/python bench/bench_device_ingest.py`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="afxq-bench-ingest-"))
# Everything this run writes stays in WORK: database, images, broker messages (no worker reads them).
os.environ.update({"DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}", "MEDIA_ROOT": str(WORK / "media"),
                   "CELERY_BROKER_FOLDER": str(WORK / "broker"), "CELERY_BROKER_URL": "filesystem://",
                   "LOG_LEVEL": "WARNING"})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from communities.models import MonitoringPoint  # noqa: E402
from devices import images  # noqa: E402
from devices.keys import issue_device_key  # noqa: E402
from tests import photos  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))


def setup() -> str:
    call_command("migrate", verbosity=0)
    from tests.factories import CommunityFactory, PointFactory, ResidentFactory

    community = CommunityFactory(city_id="BENCH")
    ResidentFactory(community=community, city_owner_id="owner-1")
    point = PointFactory(community=community, kind=MonitoringPoint.Kind.FACE_PANEL)
    return issue_device_key(point=point, acting_user=None)[1]


def post(client: Client, key: str, events: list[dict]) -> None:
    response = client.post("/api/v1/devices/pass-events", data=json.dumps(events), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Token {key}")
    body = response.json()
    if response.status_code != 200 or body["refused"]:
        raise SystemExit(f"unexpected answer {response.status_code}: {body}")


def main() -> None:
    key = setup()
    client = Client()
    print(f"ingest of pass events, {REQUESTS} requests per row, SQLite, one process, {os.cpu_count()} CPUs")
    print(f"{'capture':>10}  {'work':<40} {'ms/event':>9} {'events/s':>9} {'× pipeline':>10}")
    for width, height in [(1920, 1080), (2688, 1520)]:
        data = photos.jpeg_bytes(photos.photo(width, height))
        event = {"person": "owner-1", "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "image": base64.b64encode(data).decode()}
        images.pass_record_images(data)
        start = time.perf_counter()
        for _ in range(REQUESTS):
            images.pass_record_images(data)
        pipeline = (time.perf_counter() - start) * 1000 / REQUESTS
        rows = [("image pipeline alone (small + big)", pipeline)]
        for batch in (1, 10):
            post(client, key, [event] * batch)  # warm-up
            start = time.perf_counter()
            for _ in range(REQUESTS // batch or 1):
                post(client, key, [event] * batch)
            count = (REQUESTS // batch or 1) * batch
            rows.append((f"API, {batch} event(s) per request", (time.perf_counter() - start) * 1000 / count))
        for label, ms in rows:
            print(f"{width}x{height:<5}  {label:<40} {ms:>9.1f} {1000 / ms:>9.1f} {ms / pipeline:>10.2f}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
