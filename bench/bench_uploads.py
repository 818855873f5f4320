"""Benchmark of the outbox (uploads/): enqueue and drain, against floors of the same run.

- enqueue: `enqueue_record` (row + two image files + the on-commit nudge bookkeeping) per record, against
  the floor of a bare `OutboxRecord.objects.create` of the same fields;
- drain: pass records through `outbox.drain` (claim, read + base64 the images, POST to the sandbox city in
  this process, mark sent) per batch of 50, against the floor of POSTing the same already-built body.

Throw-away SQLite database, the sandbox on loopback in a thread. Not a test: nothing is asserted.
Run: `make bench` or `.venv/bin/python bench/bench_uploads.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="afxq-bench-uploads-"))
os.environ.update({"DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}", "MEDIA_ROOT": str(WORK / "media"),
                   "CELERY_BROKER_FOLDER": str(WORK / "broker"), "CELERY_BROKER_URL": "filesystem://",
                   "LOG_LEVEL": "WARNING", "REDIS_URL": ""})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from sandbox.city import make_server  # noqa: E402
from tests.factories import CommunityFactory, SiteCredentialFactory  # noqa: E402
from uploads import client, outbox  # noqa: E402
from uploads.models import Endpoint, OutboxRecord  # noqa: E402
from uploads.services import enqueue_record  # noqa: E402
from uploads.testing import pass_record  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def main() -> None:
    call_command("migrate", verbosity=0)
    server = make_server("127.0.0.1", 0, ["client:client-secret:site-user:site-password"], 3600)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CITY_PLATFORM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    community = CommunityFactory(city_id="BENCH")
    SiteCredentialFactory(community=community)
    samples = [pass_record(community, n) for n in range(RECORDS)]
    figures: dict[str, list[float]] = {"enqueue": [], "create floor": [], "drain": [], "post floor": []}
    for _round in range(ROUNDS):
        OutboxRecord.objects.all().delete()
        start = time.perf_counter()
        with transaction.atomic():
            for fields, _images in samples:
                OutboxRecord.objects.create(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields)
        figures["create floor"].append(RECORDS / (time.perf_counter() - start))
        OutboxRecord.objects.all().delete()
        start = time.perf_counter()
        with transaction.atomic():
            for fields, images in samples:
                enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields, images=images)
        figures["enqueue"].append(RECORDS / (time.perf_counter() - start))

        claim, rows = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 50)
        body = outbox.build_body(rows, claim, community).data
        outbox.release(rows, claim)
        token = client.get_token(community)
        batches = RECORDS // 50
        start = time.perf_counter()
        for _ in range(batches):
            assert client.post_upload(Endpoint.PASS_RECORD, body, token).ok
        figures["post floor"].append(batches / (time.perf_counter() - start))
        start = time.perf_counter()
        outbox.drain(community.pk, Endpoint.PASS_RECORD, budget_seconds=3600)
        figures["drain"].append(batches / (time.perf_counter() - start))
        assert not OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists()
    server.shutdown()
    median = {k: statistics.median(v) for k, v in figures.items()}
    print(f"uploads: {RECORDS} pass records (2 images of {len(samples[0][1]['imageBase64'])} B each), "
          f"median of {ROUNDS} rounds, SQLite, sandbox in-process")
    print(f"  enqueue_record {median['enqueue']:.0f} records/s vs bare create {median['create floor']:.0f}/s "
          f"(× floor {median['create floor'] / median['enqueue']:.1f})")
    print(f"  drain {median['drain']:.1f} batches of 50/s vs bare POST of the same body {median['post floor']:.1f}/s "
          f"(× floor {median['post floor'] / median['drain']:.2f}); {median['drain'] * 50:.0f} records/s")


if __name__ == "__main__":
    main()
