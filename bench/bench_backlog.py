"""Benchmark: backlog recovery. 100,000 pending pass records over 5 communities, as after a two-hour outage
of the city (every row due, created over the outage); then the production recovery path: beat's sweep nudges
every community, worker processes drain. Reports the time to drain and, sampled over time, each community's
progress (no community may starve) and how many rows were sent while an older row of the same community was
still waiting (oldest first: should stay near 0; concurrent drains of one community may overlap by a batch).

The real stack of drills/stack.py (private PostgreSQL and Redis, the sandbox city as a process), two worker
processes with two pool children each, one beat, production timers. The rows are written with bulk_create and
share two image files per community (the images' bytes are what the drain reads and sends; one copy each
keeps the bench's disk use small). Same-run baseline: the wire's floor, one loop posting prepared batches.
Not a test: nothing is asserted. Run: `make bench` or `.venv/bin/python bench/bench_backlog.py`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_forwarding import PRODUCTION_TIMERS, post_all
from drills.stack import Stack

RECORDS = int(os.environ.get("BENCH_BACKLOG", "100000"))
COMMUNITIES = 5
SAMPLE_SECONDS = float(os.environ.get("BENCH_SAMPLE_SECONDS", "10"))


def main() -> None:
    # Production timers, unless set in the environment (e.g. UPLOAD_DRAIN_BUDGET_SECONDS=10 to compare).
    timers = {**PRODUCTION_TIMERS, **{k: os.environ[k] for k in PRODUCTION_TIMERS if k in os.environ}}
    stack = Stack.start("bench-backlog", pg_port=5443, redis_port=6393, **timers)
    try:
        run(stack)
    finally:
        stack.close()


def progress() -> tuple[dict[str, int], dict[str, int]]:
    """Per community: rows sent, and rows sent while an older row of its was not (overtaking)."""
    from django.db import connection

    with connection.cursor() as cursor:
        # One pass: each community's oldest row not yet sent, then the sent rows younger than it.
        cursor.execute("""
            WITH oldest AS (SELECT community_id, min(id) AS id FROM uploads_outboxrecord
                            WHERE status <> 'sent' GROUP BY community_id)
            SELECT c.city_id,
                   count(*) FILTER (WHERE o.status = 'sent'),
                   count(*) FILTER (WHERE o.status = 'sent' AND o.id > oldest.id)
            FROM uploads_outboxrecord o JOIN communities_community c ON c.id = o.community_id
            LEFT JOIN oldest ON oldest.community_id = o.community_id
            GROUP BY c.city_id ORDER BY c.city_id""")
        rows = cursor.fetchall()
    return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}


def run(stack: Stack) -> None:
    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from tests.factories import CommunityFactory, SiteCredentialFactory
    from uploads import client, outbox
    from uploads.models import Endpoint, OutboxRecord
    from uploads.testing import pass_record

    communities = []
    for i in range(COMMUNITIES):
        community = CommunityFactory(city_id=f"BACKLOG-{i}")
        SiteCredentialFactory(community=community)
        communities.append(community)
    now = timezone.now()
    outage = timedelta(hours=2)
    images = {}
    for community in communities:
        _fields, data = pass_record(community, 0)
        images[community.pk] = {name: default_storage.save(f"outbox/{community.pk}/backlog-{name}.jpg", ContentFile(raw))
                                for name, raw in data.items()}
    start = time.perf_counter()
    chunk = []
    for n in range(RECORDS):
        community = communities[n % COMMUNITIES]
        fields, _data = pass_record(community, n)
        created = now - outage + outage * n / RECORDS
        chunk.append(OutboxRecord(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields,
                                  images=images[community.pk], created_at=created, next_attempt_at=created))
        if len(chunk) == 5000:
            OutboxRecord.objects.bulk_create(chunk)
            chunk = []
    OutboxRecord.objects.bulk_create(chunk)
    print(f"backlog of {RECORDS} rows written in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    # Same-run floor: one loop posting 40 prepared batches of this backlog (the bodies the drain would build).
    rows = list(OutboxRecord.objects.filter(community=communities[0]).order_by("id")[:2000])
    bodies = [outbox.build_body(rows[i:i + 50], "", communities[0]).data for i in range(0, len(rows), 50)]
    token = client.get_token(communities[0])
    url = f"{settings.CITY_PLATFORM_BASE_URL}/api/platform/{Endpoint.PASS_RECORD}"
    start = time.perf_counter()
    post_all((url, token, bodies))
    floor = len(bodies) * 50 / (time.perf_counter() - start)
    stack.sandbox.reset()
    client.token_store().drop(communities[0].pk, token)

    workers = [stack.worker(f"bl{k}", concurrency=2) for k in range(2)]
    start = time.perf_counter()
    stack.beat()  # its first sweep nudges every community: the recovery path after an outage
    samples = []
    while True:
        time.sleep(SAMPLE_SECONDS)
        sent, overtaking = progress()
        elapsed = time.perf_counter() - start
        samples.append({"t": round(elapsed), "sent": sent, "overtaking": overtaking})
        print(f"  {elapsed:5.0f} s  " + "  ".join(f"{c[-1]}: {n:6d}" for c, n in sent.items()), file=sys.stderr)
        if sum(sent.values()) >= RECORDS:
            break
        if elapsed > 3600:
            print("gave up after an hour", file=sys.stderr)
            break
    seconds = time.perf_counter() - start
    for worker in workers:
        worker.stop()
    stats = stack.sandbox.stats()
    stored = sum(stats["records"].values())
    per = RECORDS / COMMUNITIES
    max_overtaking = max(max(s["overtaking"].values()) for s in samples)
    # Starvation: the largest gap between the most and the least advanced community at any sample, in % of one.
    spread = max((max(s["sent"].values()) - min(s["sent"].values())) / per * 100 for s in samples)
    result = {"bench": "backlog", "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
              "records": RECORDS, "communities": COMMUNITIES, "seconds": round(seconds), "stored": stored,
              "records_per_s": round(RECORDS / seconds), "floor_per_s": round(floor),
              "ratio": round(RECORDS / seconds / floor, 2), "max_overtaking": max_overtaking,
              "max_spread_percent": round(spread), "batches": stats["batches"], "samples": samples}
    print(json.dumps(result))
    print(f"\nbacklog: {RECORDS} pending pass records over {COMMUNITIES} communities, 2 worker processes × 2, "
          f"beat, drain budget {settings.UPLOAD_DRAIN_BUDGET_SECONDS:.0f} s; {os.cpu_count()} CPUs, {platform.node()}, load {os.getloadavg()[0]:.1f}")
    print(f"drained in {seconds:.0f} s = {RECORDS / seconds:.0f} records/s; floor (one loop posting prepared "
          f"batches) {floor:.0f} records/s; × floor {RECORDS / seconds / floor:.2f}; sandbox stored {stored}")
    print(f"oldest first: at most {max_overtaking} rows sent ahead of an older waiting row of their community; "
          f"largest gap between communities: {spread:.0f} % of one community's backlog")
    print(f"{'t (s)':>6} " + " ".join(f"{c:>11}" for c in samples[0]["sent"]))
    step = max(1, len(samples) // 12)
    for sample in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"{sample['t']:>6} " + " ".join(f"{n / per * 100:>10.0f}%" for n in sample["sent"].values()))


if __name__ == "__main__":
    main()
