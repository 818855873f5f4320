"""Benchmark of the apply-access receiver (residents/api.py) and the photo fetch (residents/photos.py).

Receiver: calls per second through the whole request and the worker's half right after it (JSON and
field checks, the accepted call stored, the answer; then the person upsert with its history row, as
residents.services.apply_accepted_calls does in a worker), and the answer alone, in-process with Django's test client on a throw-away
SQLite database, against the floor of the same run: the ORM alone writing the same rows (a call row,
a resident, a history row). Photo: download over loopback + checks + re-encode, against a bare Pillow
decode + encode of the same JPEG. Not a test: nothing is asserted.
Run: `make bench` or `.venv/bin/python bench/bench_apply_access.py`.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="afxq-bench-apply-"))
# Everything this run writes stays in WORK: database, photos, broker messages (no worker reads them).
# BENCH_DATABASE_URL=postgres://… for PostgreSQL (an empty database: the bench migrates it).
os.environ.update({"DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{WORK / 'db.sqlite3'}", "MEDIA_ROOT": str(WORK / "media"),
                   "PRIVATE_MEDIA_ROOT": str(WORK / "private"), "CELERY_BROKER_FOLDER": str(WORK / "broker"),
                   "CELERY_BROKER_URL": "filesystem://", "LOG_LEVEL": "WARNING",
                   "PHOTO_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32"})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from PIL import Image  # noqa: E402

from residents import photos, services  # noqa: E402
from residents.models import ApplyAccessCall, Resident, ResidentChange  # noqa: E402
from tests import photos as sample  # noqa: E402
from tests.factories import CommunityFactory, make_id_card  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "300"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))


def body(n: int, **overrides) -> bytes:
    data = {"address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": "张三", "idCard": make_id_card(n),
            "photo": "http://photos.example.com/p.jpg", "source": "01", "type": "01", "phone": "13812345678",
            "communityId": "BENCH", "ownerId": f"OWNER-{n}", "ywlsh": f"YW-{n}", "xbdm": 1}
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False).encode()


def per_second(calls: int, work) -> float:
    start = time.perf_counter()
    for n in range(calls):
        work(n)
    return calls / (time.perf_counter() - start)


def receiver() -> None:
    call_command("migrate", verbosity=0)
    community = CommunityFactory(city_id="BENCH", district="锦江区", street="观音桥55号")
    client = Client()

    def post(data: bytes, expect: int, apply: bool = True) -> None:
        response = client.post("/apply-access", data=data, content_type="application/json")
        if response.json()["code"] != expect:
            raise SystemExit(f"unexpected answer: {response.json()}")
        if apply:
            services.apply_accepted_calls()

    def floor(n: int) -> None:
        # The same rows as a stored call, without the request, the checks or the locking.
        ApplyAccessCall.objects.create(community=community, ywlsh=f"F-{n}", body="x" * 400, summary="x" * 400,
                                       outcome="stored")
        resident = Resident.objects.create(community=community, name="张三", id_card=make_id_card(n, birth="19800101"),
                                           phone="13812345678", person_type="02", city_owner_id=f"F-{n}")
        ResidentChange.objects.create(resident=resident, to_status="pending")

    post(body(0), 1)  # warm-up (creates the room)
    rows = [("ORM floor: call + resident + history rows", per_second(CALLS, floor))]
    offset = 1
    rows.append(("new person: the answer only (accepted)",
                 per_second(CALLS, lambda n: post(body(900_000 + n), 1, apply=False))))
    services.apply_accepted_calls()
    rows.append(("new person (accepted + applied)", per_second(CALLS, lambda n: post(body(offset + n), 1))))
    rows.append(("same ywlsh again (duplicate)", per_second(CALLS, lambda n: post(body(offset + n), 1))))
    rows.append(("new ywlsh, same ownerId (update)",
                 per_second(CALLS, lambda n: post(body(offset + n, ywlsh=f"YW2-{n}"), 1))))
    rows.append(("refused (ID of 3 characters)",
                 per_second(CALLS, lambda n: post(body(5000 + n, idCard="123"), 0))))
    # A burst: the calls accepted first, then applied by the worker in its batches (APPLY_ACCESS_APPLY_BATCH).
    for n in range(CALLS):
        post(body(700_000 + n), 1, apply=False)
    start = time.perf_counter()
    applied = services.apply_accepted_calls()
    rows.append((f"a burst of {applied}: applying the accepted calls", applied / (time.perf_counter() - start)))
    base = rows[0][1]
    from django.db import connection

    print(f"apply-access receiver, {CALLS} calls per row, {connection.vendor}, one process, {os.cpu_count()} CPUs")
    print(f"{'work':<44} {'calls/s':>8} {'ms/call':>8} {'× floor':>8}")
    for label, rate in rows:
        print(f"{label:<44} {rate:8.0f} {1000 / rate:8.2f} {base / rate:8.1f}")


def median_ms(work) -> float:
    work()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def photo_fetch() -> None:
    payloads = {"/phone.jpg": sample.rotated_phone_jpeg(4000, 3000), "/small.jpg": sample.jpeg_bytes(sample.photo(640, 480))}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            data = payloads[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(f"\nphoto fetch, median of {ROUNDS} rounds")
    print(f"{'photo':<30} {'work':<34} {'ms':>7} {'× bare':>7}")
    for path, label in (("/phone.jpg", "4000x3000 phone JPEG (EXIF 6)"), ("/small.jpg", "640x480 JPEG")):
        data = payloads[path]

        def bare(data: bytes = data) -> None:
            image = Image.open(io.BytesIO(data))
            image.load()
            image.save(io.BytesIO(), format="JPEG", quality=88)

        floor = median_ms(bare)
        print(f"{label:<30} {'bare decode + encode':<34} {floor:7.1f} {1:7.2f}")
        label = ""
        for work, run in (("re-encode (checks, transpose, resize)", lambda data=data: photos.reencode(data)),
                          ("download over loopback + re-encode", lambda path=path: photos.fetch_photo(
                              f"http://127.0.0.1:{port}{path}"))):
            ms = median_ms(run)
            print(f"{label:<30} {work:<34} {ms:7.1f} {ms / floor:7.2f}")
    server.shutdown()


if __name__ == "__main__":
    receiver()
    photo_fetch()
