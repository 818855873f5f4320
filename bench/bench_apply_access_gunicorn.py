"""Benchmark: `POST /apply-access` under gunicorn on PostgreSQL, at 8, 32 and 128 concurrent clients, against
the floor measured in the same run: a bare Django view doing one insert on the same stack (gunicorn, the same
settings and database; `bench/http_urls.py`, served only by this benchmark's settings `bench/http_settings.py`).

Stack: drills/stack.py (a fresh private PostgreSQL cluster created and removed by the run, a private Redis as
broker and cache), gunicorn with the production layout of deploy/gunicorn.conf.py (2 × cores + 1 = 5 sync
workers on this machine) and DB_CONN_MAX_AGE=60 as in deploy/env.example, DEBUG off. Load generator: wrk
(Debian's `wrk`, C, 2 threads; `bench/apply_access.lua` makes every request a new person with a valid ID
number, spread over 32 communities, and counts answers that are not `{"code": 1}`). wrk shares the 2 cores
with gunicorn and PostgreSQL, for the floor and for apply-access alike.
Apply-access answers once the call is checked and stored as accepted; one Celery worker process (`-c 1`, at the
CPU priority `Nice=10` that deploy/systemd/afxq-worker@.service gives workers, so that answers come first) applies
the accepted calls meanwhile (the person's row, room, history, photo-fetch task), on the same two cores.
After each apply-access row the run waits until the worker has applied every accepted call and reports how long
that took after the load stopped ("applied +s") and the rate at which the worker applied them.
BENCH_APPLY_DURING_LOAD=0 starts the worker only after each load run: the answer path alone, as the floor is.
Not a test: nothing is asserted. Run: `make bench` or `.venv/bin/python bench/bench_apply_access_gunicorn.py`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills.stack import Stack

CLIENTS = [int(n) for n in os.environ.get("BENCH_CLIENTS", "8,32,128").split(",")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
COMMUNITIES = 32
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
APPLY_DURING_LOAD = os.environ.get("BENCH_APPLY_DURING_LOAD", "1") != "0"
LUA = Path(__file__).resolve().parent / "apply_access.lua"


def wrk(url: str, path: str, clients: int, offset: int) -> dict:
    env = {**os.environ, "BENCH_PATH": path, "BENCH_COMMUNITIES": str(COMMUNITIES), "BENCH_OFFSET": str(offset)}
    result = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{SECONDS}s", "--timeout", "10s",
                             "-s", str(LUA), url], capture_output=True, text=True, env=env, check=True)
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    requests, bad, p50, p99, duration, socket_errors = line.split()[1:]
    if int(bad):
        print(result.stderr.strip(), file=sys.stderr)
    return {"clients": clients, "requests": int(requests), "bad": int(bad), "socket_errors": int(socket_errors),
            "per_s": round(int(requests) / float(duration)), "p50_ms": round(float(p50), 1),
            "p99_ms": round(float(p99), 1)}


def drain(timeout: float = 1800) -> float:
    """Seconds until the worker has applied every accepted call."""
    from residents.models import ApplyAccessCall

    start = time.monotonic()
    while ApplyAccessCall.objects.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED).exists():
        if time.monotonic() - start > timeout:
            raise SystemExit("the worker did not apply the accepted calls in time")
        time.sleep(0.2)
    return time.monotonic() - start


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    stack = Stack.start("bench-apply", pg_port=5444, redis_port=6394, LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="60")
    try:
        run(stack)
    finally:
        stack.close()


def run(stack: Stack) -> None:
    from django.db.models import Count

    from residents.models import ApplyAccessCall, Resident
    from tests.factories import CommunityFactory

    for i in range(COMMUNITIES):
        CommunityFactory(city_id=f"BENCH-{i}", district="锦江区", street="观音桥55号")
    web = stack.gunicorn(workers=WORKERS, settings_module="bench.http_settings")
    def start_worker():
        return stack.worker("apply", concurrency=1, nice=10)  # as deploy/systemd/afxq-worker@.service

    worker = start_worker()
    wrk(web.url, "/apply-access", 4, 900_000_000)  # warm-up: the rooms of every community exist afterwards
    drain()
    if not APPLY_DURING_LOAD:
        worker.stop()
    rows = []
    offset = 0
    for clients in CLIENTS:
        floor = wrk(web.url, "/bench-floor", clients, offset)
        offset += 1_000_000
        started = time.monotonic() - SECONDS
        app = wrk(web.url, "/apply-access", clients, offset)
        offset += 1_000_000
        if not APPLY_DURING_LOAD:
            worker = start_worker()
        app["applied_after_s"] = round(drain(), 1)
        if not APPLY_DURING_LOAD:
            worker.stop()
        app["applied_per_s"] = round(app["requests"] / (time.monotonic() - started))
        rows.append({"clients": clients, "floor": floor, "apply_access": app,
                     "ratio": round(app["per_s"] / floor["per_s"], 2)})
    stored = Resident.objects.count()
    calls = ApplyAccessCall.objects.exclude(community=None).count()
    outcomes = dict(ApplyAccessCall.objects.exclude(community=None).values_list("outcome").annotate(n=Count("pk")))
    web.stop()
    print(json.dumps({"bench": "apply_access_gunicorn", "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
                      "load": os.getloadavg()[0], "seconds_per_run": SECONDS, "gunicorn_workers": WORKERS, "apply_during_load": APPLY_DURING_LOAD, "residents_stored": stored,
                      "calls_stored": calls, "call_outcomes": outcomes, "rows": rows}))
    print(f"\n/apply-access under gunicorn ({WORKERS} sync workers) on PostgreSQL, wrk 2 threads, {SECONDS} s per run, "
          f"{os.cpu_count()} CPUs ({platform.node()}), load {os.getloadavg()[0]:.1f}; floor = a bare view doing "
          f"one insert, same stack, same run; worker applying "
          f"{'during the load' if APPLY_DURING_LOAD else 'after each load run'}")
    print(f"{'clients':>7} | {'floor req/s':>11} {'p50 ms':>7} {'p99 ms':>7} | {'apply req/s':>11} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'refused':>7} | {'× floor':>7} | {'applied +s':>10} {'applied/s':>9}")
    for r in rows:
        f, a = r["floor"], r["apply_access"]
        print(f"{r['clients']:>7} | {f['per_s']:>11} {f['p50_ms']:>7} {f['p99_ms']:>7} | {a['per_s']:>11} "
              f"{a['p50_ms']:>7} {a['p99_ms']:>7} {a['bad'] + a['socket_errors']:>7} | {r['ratio']:>7.2f} | "
              f"{a['applied_after_s']:>10} {a['applied_per_s']:>9}")
    print(f"calls by outcome: {outcomes}; residents stored: {stored}")


if __name__ == "__main__":
    main()
