"""Where a pass event's time goes beside the image: `POST /api/v1/devices/pass-events` in-process (Django's test
client) on PostgreSQL (drills/stack.py: a private cluster created and removed by the run), one event with a
camera-like 1920x1080 capture per request, as JSON (base64) and as multipart (the raw JPEG), profiled with
cProfile over BENCH_REQUESTS requests each; then the steps that are not the image timed on their own, without the
profiler's overhead (json.loads of the body, the base64 step of devices.ingest.fields.image_bytes, the key check).
Not a test: nothing is asserted. Run: `.venv/bin/python bench/bench_ingest_path.py`.
"""

from __future__ import annotations

import base64
import cProfile
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills.stack import Stack

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "30"))
# (label, file suffix, function name) of the steps, as cProfile names them; cumulative time per request.
STEPS = [
    ("the whole request (test client)", "django/test/client.py", "post"),
    ("  body parse: JSON (DRF -> BoundedJSONParser)", "afxq_portal/jsonbody.py", "parse"),
    ("  body parse: multipart (Django, to memory)", "django/http/multipartparser.py", "parse"),
    ("  key check (DeviceKeyAuthentication)", "devices/auth.py", "authenticate"),
    ("  text check of the event (nested_problems)", "afxq_portal/text.py", "nested_problems"),
    ("  person lookup (find_resident)", "devices/ingest/fields.py", "find_resident"),
    ("  image bytes (base64 decode / file read)", "devices/ingest/fields.py", "image_bytes"),
    ("  image header: pixels for the budget", "devices/images.py", "decoded_pixels"),
    ("  image pipeline (pass_record_images)", "devices/images.py", "pass_record_images"),
    ("  store: transaction, rows, files", "devices/ingest/store.py", "store_drafts"),
    ("    of which the two image files", "django/core/files/storage/filesystem.py", "_save"),
    ("    of which the commit", "django/db/transaction.py", "__exit__"),
]


def milliseconds(work: Callable[[], object], rounds: int = 20) -> float:
    work()
    start = time.perf_counter()
    for _ in range(rounds):
        work()
    return (time.perf_counter() - start) * 1000 / rounds


def main() -> None:
    stack = Stack.start("bench-ingest-path", pg_port=5448, redis_port=6398, LOG_LEVEL="WARNING")
    try:
        run()
    finally:
        stack.close()


def run() -> None:
    from django.test import Client

    from communities.models import MonitoringPoint
    from devices.images import pass_record_images
    from devices.ingest.fields import image_bytes
    from devices.keys import issue_device_key
    from tests import photos
    from tests.factories import CommunityFactory, PointFactory, ResidentFactory

    community = CommunityFactory(city_id="BENCH")
    ResidentFactory(community=community, city_owner_id="owner-1")
    point = PointFactory(community=community, kind=MonitoringPoint.Kind.FACE_PANEL)
    key = issue_device_key(point=point, acting_user=None)[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    capture = photos.jpeg_bytes(photos.photo(1920, 1080))
    moment = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    text = base64.b64encode(capture).decode()
    body = json.dumps({"person": "owner-1", "time": moment, "image": text})

    def post_json() -> None:
        answer = client.post("/api/v1/devices/pass-events", data=body, content_type="application/json")
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.content[:300]

    def post_multipart() -> None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        answer = client.post("/api/v1/devices/pass-events", data={
            "person": "owner-1", "time": moment, "image": SimpleUploadedFile("c.jpg", capture, "image/jpeg")})
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.content[:300]

    print(f"pass event, 1920x1080 capture ({len(capture) // 1000} kB; JSON body {len(body) // 1000} kB), "
          f"{REQUESTS} requests each, PostgreSQL, in-process, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; ms per request under cProfile")
    columns = {}
    for label, post in (("JSON", post_json), ("multipart", post_multipart)):
        post()  # warm-up: the point's fit is remembered, as for a camera sending frames
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(REQUESTS):
            post()
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        columns[label] = {
            name: sum(value[3] for (file, _line, function), value in stats.items()
                      if file.endswith(suffix) and function == function_name) * 1000 / REQUESTS
            for name, suffix, function_name in STEPS}
    print(f"{'step':<48} {'JSON':>8} {'multipart':>10}")
    for name, _suffix, _function in STEPS:
        print(f"{name:<48} {columns['JSON'][name]:>8.1f} {columns['multipart'][name]:>10.1f}")
    print("\nwithout the profiler, ms:")
    for name, work in [
        ("json.loads of the 1.16 MB body", lambda: json.loads(body)),
        ("image_bytes(base64 text): strip, join, b64decode", lambda: image_bytes(text, "image")),
        ("base64.b64decode(validate=True) alone", lambda: base64.b64decode(text, validate=True)),
        ("pass_record_images alone (the same capture, warm)",
         lambda: pass_record_images(capture, hint=point.pk)),
        ("the whole JSON request", post_json),
        ("the whole multipart request", post_multipart),
    ]:
        print(f"  {name:<52} {milliseconds(work, 10 if 'request' in name or 'alone' in name else 30):>7.2f}")


if __name__ == "__main__":
    main()
