"""Benchmark: forwarding, records/s from the outbox to the sandbox city with 1, 2 and 4 worker processes,
against the wire's floor measured in the same run: plain loops posting the same prepared batches (the JSON
bodies the portal builds, 50 records with their two images each) with `requests`, as many loops in parallel
as there are worker processes.

The real stack of drills/stack.py: private PostgreSQL and Redis, the sandbox city as its own process,
Celery worker processes (`-c 1` each, so N processes = N concurrent drains), production timers. The rows are
spread over 4 communities (a community's link is drained by one process at a time in practice: one nudge).
Not a test: nothing is asserted. Run: `make bench` or `.venv/bin/python bench/bench_forwarding.py`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills.stack import Stack

RECORDS = int(os.environ.get("BENCH_RECORDS", "4000"))
COMMUNITIES = 4
PROCESSES = [int(n) for n in os.environ.get("BENCH_PROCESSES", "1,2,4").split(",")]
PRODUCTION_TIMERS = {"UPLOAD_LEASE_SECONDS": "300", "UPLOAD_RETRY_BASE_SECONDS": "10",
                     "UPLOAD_RETRY_MAX_SECONDS": "1800", "UPLOAD_SWEEP_SECONDS": "15", "UPLOAD_READ_TIMEOUT": "30",
                     "UPLOAD_CONNECT_TIMEOUT": "5", "UPLOAD_DRAIN_BUDGET_SECONDS": "60", "UPLOAD_MAX_ATTEMPTS": "50",
                     "LOG_LEVEL": "WARNING"}


def post_all(args: tuple[str, str, list[bytes]]) -> int:
    import requests

    url, token, bodies = args
    session = requests.Session()
    for body in bodies:
        answer = session.post(url, data=body, timeout=30, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}).json()
        if answer["responseCode"] != "_200":
            raise RuntimeError(f"floor: the sandbox refused a batch: {answer}")
    return len(bodies)


def forget_tokens(communities: list) -> None:
    """The sandbox was reset: drop whatever token the shared store holds for each community."""
    from uploads import client

    store = client.token_store()
    for community in communities:
        token = store.get(community.pk)
        if token:
            store.drop(community.pk, token)


def main() -> None:
    stack = Stack.start("bench-forwarding", pg_port=5442, redis_port=6392, **PRODUCTION_TIMERS)
    try:
        run(stack)
    finally:
        stack.close()


def run(stack: Stack) -> None:
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from tests.factories import CommunityFactory, SiteCredentialFactory
    from uploads import client, outbox
    from uploads.models import Endpoint, LinkState, OutboxRecord
    from uploads.services import enqueue_record, nudge_drain
    from uploads.testing import pass_record

    communities = []
    for i in range(COMMUNITIES):
        community = CommunityFactory(city_id=f"BENCH-{i}")
        SiteCredentialFactory(community=community)
        communities.append(community)
    for first in range(0, RECORDS, 50):
        with transaction.atomic():
            for n in range(first, min(first + 50, RECORDS)):
                fields, images = pass_record(communities[n % COMMUNITIES], n)
                enqueue_record(community=communities[n % COMMUNITIES], endpoint=Endpoint.PASS_RECORD, fields=fields,
                               images=images)
    stack.redis.flush()  # the nudges of the enqueue: each run below nudges on its own

    # The prepared batches: exactly the bodies the drain builds (images read and base64-encoded once, here).
    bodies = []
    for community in communities:
        rows = list(OutboxRecord.objects.filter(community=community).order_by("id"))
        for first in range(0, len(rows), 50):
            bodies.append((community.pk, outbox.build_body(rows[first:first + 50], "", community).data))
    url = f"{settings.CITY_PLATFORM_BASE_URL}/api/platform/{Endpoint.PASS_RECORD}"
    body_bytes = sum(len(b) for _c, b in bodies) / len(bodies)
    results = []
    for processes in PROCESSES:
        # Floor: N loops, each posting its share of the batches with one token (the sandbox's tokens are not
        # tied to a community; the portal logs in once per community, which the workers' figure includes).
        stack.sandbox.reset()
        forget_tokens(communities)
        tokens = {community.pk: client.get_token(community) for community in communities}
        shares = [(url, tokens[communities[0].pk], [b for i, (_c, b) in enumerate(bodies) if i % processes == k])
                  for k in range(processes)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            start = time.perf_counter()
            posted = sum(pool.map(post_all, shares))
            floor_seconds = time.perf_counter() - start
        floor = posted * 50 / floor_seconds
        stack.sandbox.reset()
        forget_tokens(communities)
        OutboxRecord.objects.update(status=OutboxRecord.Status.PENDING, claim="", attempts=0, lease_until=None,
                                    next_attempt_at=timezone.now(), sent_at=None, batch=None)
        LinkState.objects.update(batch_limits={}, last_error_at=None, probe_until=None)
        workers = [stack.worker(f"fw{k}", concurrency=1) for k in range(processes)]
        start = time.perf_counter()
        for community in communities:
            nudge_drain(community.pk, Endpoint.PASS_RECORD)
        while OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        for worker in workers:
            worker.stop()
        stored = sum(stack.sandbox.stats()["records"].values())
        rate = RECORDS / seconds
        results.append({"processes": processes, "records": RECORDS, "stored": stored, "workers_per_s": round(rate),
                        "floor_per_s": round(floor), "ratio": round(rate / floor, 2)})
    print(json.dumps({"bench": "forwarding", "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
                      "load": os.getloadavg()[0], "body_bytes": round(body_bytes), "results": results}))
    print(f"\nforwarding {RECORDS} pass records (batches of 50, {body_bytes / 1024:.0f} KB per body) over "
          f"{COMMUNITIES} communities to the sandbox city; {os.cpu_count()} CPUs, {platform.node()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'worker processes':>16} {'records/s':>10} {'floor records/s':>16} {'× floor':>8} {'stored':>7}")
    for r in results:
        print(f"{r['processes']:>16} {r['workers_per_s']:>10} {r['floor_per_s']:>16} {r['ratio']:>8.2f} "
              f"{r['stored']:>7}")


if __name__ == "__main__":
    main()
