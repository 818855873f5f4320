"""Fault drills against the real stack (drills/stack.py): Celery workers and beat as processes, the sandbox
city platform as a process, a private PostgreSQL and Redis. Each drill produces records, breaks something
while they flow, repairs it and counts: records produced, distinct records the sandbox stored, lost
(produced, never stored: must be 0), duplicated (stored more than once) and, of those, how many are
explained by an answer the portal never heard (the sandbox stored the batch, then the answer was slow
or the connection dropped, so the portal had to send it again: at-least-once delivery).

    .venv/bin/python drills/run.py            # every drill
    .venv/bin/python drills/run.py --quick    # the ones CI runs (about a minute)
    .venv/bin/python drills/run.py worker_sigkill city_500

Prints a table and one JSON line per drill; exits 1 if any record was lost or any drill failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills.stack import Stack

PASS = "person-inout-info"
CAR = "image/car"


class Drill:
    """One drill's context: its communities, the ids of what it produced, and the count at the end."""

    def __init__(self, stack: Stack, name: str) -> None:
        from tests.factories import CommunityFactory, SiteCredentialFactory

        self.stack, self.name = stack, name
        self.communities = []
        for i in range(2):
            community = CommunityFactory(city_id=f"{name.upper()}-{i}", name=f"{name} {i}")
            SiteCredentialFactory(community=community)
            self.communities.append(community)
        self.row_ids: list[int] = []
        self.keys: list[str] = []
        self.notes: list[str] = []
        self.endpoint = PASS

    def produce(self, count: int, chunk: int = 50) -> None:
        """Pass records through the outbox's entry point, ``chunk`` per transaction (one nudge each)."""
        from django.db import transaction

        from uploads.services import enqueue_record
        from uploads.testing import pass_record

        start = len(self.keys)
        for first in range(start, start + count, chunk):
            with transaction.atomic():
                for n in range(first, min(first + chunk, start + count)):
                    community = self.communities[n % len(self.communities)]
                    fields, images = pass_record(community, n, out_id=f"{self.name}-{n}")
                    self.row_ids.append(enqueue_record(community=community, endpoint=PASS, fields=fields,
                                                       images=images).pk)
                    self.keys.append(f"{self.name}-{n}")

    def statuses(self) -> Counter:
        from django.db import connection
        from django.db.models import Count
        from django.db.utils import InterfaceError, OperationalError

        from uploads.models import OutboxRecord

        for _ in range(60):
            try:
                return Counter(dict(OutboxRecord.objects.filter(id__in=self.row_ids).values("status")
                                    .annotate(n=Count("id")).values_list("status", "n")))
            except (OperationalError, InterfaceError):  # PostgreSQL being restarted by a drill
                connection.close()
                time.sleep(1)
        raise RuntimeError("database unreachable for a minute")

    def wait_sent(self, timeout: float) -> float:
        """Seconds until every produced row is sent; raises if not within ``timeout``."""
        start = time.monotonic()
        while True:
            counts = self.statuses()
            if counts.get("sent", 0) == len(self.row_ids):
                return time.monotonic() - start
            if counts.get("dead"):
                raise RuntimeError(f"dead letters: {dict(counts)}")
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"not all sent after {timeout:.0f} s: {dict(counts)}")
            time.sleep(0.5)

    def wait_in_flight(self, timeout: float = 30) -> Counter:
        """Wait until some rows are in flight (a batch is being sent), so that a fault lands mid-batch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.statuses()
            if counts.get("in_flight"):
                return counts
            time.sleep(0.05)
        raise TimeoutError(f"no batch in flight within {timeout:.0f} s: {dict(self.statuses())}")

    def key(self, fields: dict) -> str | None:
        if self.endpoint == PASS:
            out_id = fields.get("outId", "")
            return out_id if out_id.startswith(f"{self.name}-") else None
        plate = fields.get("licensePlate", "")
        return plate if fields.get("communityId", "").startswith(self.name.upper()) else None

    def count(self) -> dict:
        records = self.stack.sandbox.records(self.endpoint)
        answer_lost = {b["id"] for b in self.stack.sandbox.batches() if b.get("answer_lost")}
        copies: Counter = Counter()
        lost_answer_keys: set[str] = set()
        for record in records:
            key = self.key(record["fields"])
            if key is None:
                continue
            copies[key] += 1
            if record["batch"] in answer_lost:
                lost_answer_keys.add(key)
        produced = set(self.keys)
        duplicated = {k for k, n in copies.items() if n > 1}
        return {"drill": self.name, "produced": len(produced), "stored": len(produced & set(copies)),
                "lost": len(produced - set(copies)), "duplicated": len(duplicated),
                "dup_explained": len(duplicated & lost_answer_keys),
                "unexpected": len(set(copies) - produced), "notes": "; ".join(self.notes)}


# --- the drills -----------------------------------------------------------------------------------

def drill_worker_sigkill(d: Drill, kills: int = 5, count: int = 2000) -> None:
    """SIGKILL the whole worker (main process and pool children) while batches are in flight, again and
    again; a new worker starts each time. Rows of a killed batch come back when their lease ends."""
    d.stack.sandbox.configure(slow_seconds=1.0)
    d.stack.sandbox.set_faults({"slow": 1.0})  # the city stores, then answers 1 s later: kills land mid-batch
    d.produce(count)
    beat = d.stack.beat()
    worker = d.stack.worker("kill")
    in_flight = []
    for _ in range(kills):
        time.sleep(random.uniform(0.2, 1.5))
        in_flight.append(d.wait_in_flight().get("in_flight", 0))
        worker.kill(signal.SIGKILL)
        worker = d.stack.worker("kill")
    d.stack.sandbox.set_faults({})
    d.notes.append(f"{kills} kills, rows in flight at each: {in_flight}")
    d.notes.append(f"drained {d.wait_sent(240):.0f} s after the last kill")
    worker.stop()
    beat.stop()


def drill_beat_restart(d: Drill, count: int = 600) -> None:
    """Beat stopped: rows left in flight by a killed worker stay there (nothing sweeps); beat back: delivered."""
    d.stack.sandbox.configure(slow_seconds=1.0)
    d.stack.sandbox.set_faults({"slow": 1.0})
    d.produce(count)
    worker = d.stack.worker("beat")
    d.wait_in_flight()
    worker.kill(signal.SIGKILL)
    d.stack.sandbox.set_faults({})
    worker = d.stack.worker("beat")
    time.sleep(float(os.environ["UPLOAD_LEASE_SECONDS"]) + 6)
    stuck = d.statuses()
    assert stuck.get("in_flight"), f"the drill needs rows left in flight: {dict(stuck)}"
    d.notes.append(f"no beat, worker killed mid-batch, restarted; lease ({os.environ['UPLOAD_LEASE_SECONDS']} s) + 6 s "
                   f"later {stuck.get('in_flight')} rows still in flight (nothing sweeps)")
    beat = d.stack.beat()
    d.notes.append(f"beat restarted: drained in {d.wait_sent(120):.0f} s")
    worker.stop()
    beat.stop()


def drill_redis_flush_restart(d: Drill, count: int = 1500) -> None:
    """Redis (broker and token cache) flushed, then shut down without saving, mid-run, then started empty."""
    d.stack.sandbox.configure(slow_seconds=0.5)
    d.stack.sandbox.set_faults({"slow": 1.0})
    d.produce(count)
    beat = d.stack.beat()
    worker = d.stack.worker("redis")
    time.sleep(3)
    sent_before = d.wait_in_flight().get("sent", 0)
    d.stack.redis.flush()
    d.stack.redis.stop()
    time.sleep(5)
    d.stack.redis.start()
    d.stack.sandbox.set_faults({})
    d.notes.append(f"flushed + stopped 5 s after {sent_before} sent")
    d.notes.append(f"drained {d.wait_sent(180):.0f} s after the restart")
    worker.stop()
    beat.stop()


def drill_postgres_restart(d: Drill, count: int = 1500) -> None:
    """PostgreSQL restarted (fast shutdown: every connection cut) while workers claim and mark rows."""
    from django.db import connection

    d.stack.sandbox.configure(slow_seconds=0.5)
    d.stack.sandbox.set_faults({"slow": 1.0})
    d.produce(count)
    beat = d.stack.beat()
    worker = d.stack.worker("pg")
    time.sleep(3)
    sent_before = d.wait_in_flight().get("sent", 0)
    connection.close()
    d.stack.pg.stop()
    time.sleep(3)
    d.stack.pg.start()
    d.stack.sandbox.set_faults({})
    d.notes.append(f"stopped 3 s after {sent_before} sent")
    d.notes.append(f"drained {d.wait_sent(180):.0f} s after the restart")
    worker.stop()
    beat.stop()


def city_fault(faults: dict[str, float], count: int = 400, **config: object) -> Callable[[Drill], None]:
    def drill(d: Drill) -> None:
        if config:
            d.stack.sandbox.configure(**config)
        d.stack.sandbox.set_faults(faults)
        beat = d.stack.beat()
        worker = d.stack.worker("city")
        d.produce(count)
        d.notes.append(f"{faults} (chance per request): drained in {d.wait_sent(240):.0f} s")
        stats = d.stack.sandbox.stats()
        d.notes.append(f"sandbox: {stats['batches']} batches, {stats['logins']} logins, "
                       f"{stats['unauthorized_answers']} _401 answers")
        d.stack.sandbox.set_faults({})
        d.stack.sandbox.configure(token_lifetime=3600, slow_seconds=2)
        worker.stop()
        beat.stop()
    drill.__doc__ = f"The city answers {faults}" + (f" ({config})" if config else "")
    return drill


def drill_bad_credentials(d: Drill, count: int = 300) -> None:
    """The city refuses our credentials: uploads halt (one login attempt per community, nothing lost);
    the account is fixed at the city, staff resume the uploads (the admin action), everything goes."""
    from communities.models import Community
    from uploads.outbox import resume_uploads

    d.stack.sandbox.configure(credentials=["someone:else:entirely:wrong"], revoke_tokens=True)
    beat = d.stack.beat()
    worker = d.stack.worker("cred")
    d.produce(count)
    time.sleep(10)
    halted = Community.objects.filter(pk__in=[c.pk for c in d.communities]).exclude(uploads_halted_reason="").count()
    stats = d.stack.sandbox.stats()
    d.notes.append(f"10 s with bad credentials: {d.statuses().get('sent', 0)} sent, {halted}/2 communities halted, "
                   f"{stats['login_failures']} refused logins")
    d.stack.sandbox.configure(credentials=["client:client-secret:site-user:site-password"])
    for community in Community.objects.filter(pk__in=[c.pk for c in d.communities]):
        resume_uploads(community, acting_user="drill")
    d.notes.append(f"resumed: drained in {d.wait_sent(120):.0f} s")
    worker.stop()
    beat.stop()


def drill_disk_full(d: Drill, count: int = 40) -> None:
    """MEDIA_ROOT (a tmpfs) filled up while a vehicle camera posts through gunicorn: events accepted before are
    delivered; events after are refused with a clear reason and nothing half-written is kept; space freed,
    the camera resends them and they are delivered too."""
    import requests

    from communities.models import MonitoringPoint
    from tests.device_helpers import capture_b64, make_device

    if not d.stack.mounted:
        raise RuntimeError("could not mount a tmpfs for MEDIA_ROOT (needs root): this drill cannot run here")
    d.endpoint = CAR
    _device, key = make_device(d.communities[0], kind=MonitoringPoint.Kind.VEHICLE_SNAPSHOT)
    web = d.stack.gunicorn()
    beat = d.stack.beat()
    worker = d.stack.worker("disk")
    image = capture_b64(1920, 1080)

    def post(n: int) -> dict:
        event = {"plate": f"川A{n:05d}", "plateType": "02", "passType": n % 2,
                 "time": time.strftime("%Y-%m-%d %H:%M:%S"), "images": [image], "eventId": f"cam-{n}"}
        response = requests.post(f"{web.url}/api/v1/devices/car-snapshots", json=event, timeout=60,
                                 headers={"Authorization": f"Token {key}", "Accept-Language": "en"})
        return {"status": response.status_code, **(response.json() if response.headers.get(
            "Content-Type", "").startswith("application/json") else {"text": response.text[:200]})}

    def accept(n: int, answer: dict) -> None:
        if answer.get("accepted") == 1 or (answer.get("results") or [{}])[0].get("duplicate"):
            d.keys.append(f"川A{n:05d}")

    half = count // 2
    for n in range(half):
        accept(n, post(n))
    ballast = d.stack.media / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte (unbuffered, so that nothing is left to flush on close)
        for size in (2**20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    refused = []
    for n in range(half, count):
        answer = post(n)
        accept(n, answer)
        if not (answer.get("accepted") == 1):
            refused.append(n)
    sample = post(count + 1)
    d.notes.append(f"disk full: {len(refused)}/{count - half} events refused, answer: "
                   f"HTTP {sample['status']} {json.dumps(sample.get('results', sample), ensure_ascii=False)[:200]}")
    files = sum(1 for p in d.stack.media.rglob("*.jpg"))
    ballast.unlink()
    for n in refused:  # the camera resends what was refused
        accept(n, post(n))
    from uploads.models import OutboxRecord

    d.row_ids = list(OutboxRecord.objects.filter(community=d.communities[0], endpoint=CAR).values_list("id", flat=True))
    d.notes.append(f"space freed, refused events resent: {len(d.row_ids)} outbox rows, {files} image files while full; "
                   f"drained in {d.wait_sent(120):.0f} s")
    worker.stop()
    beat.stop()
    web.stop()


def drill_slow_photo_hosts(d: Drill, calls: int = 24, slow: int = 8, records: int = 300) -> None:
    """Photo hosts that send one byte a second while apply-access calls and outbox records flow: the calls are
    applied and the records sent as fast as without them (photo fetches have their own queue and worker, and
    each slow fetch ends at PHOTO_FETCH_TOTAL_TIMEOUT)."""
    import requests

    from residents.models import ApplyAccessCall, Resident
    from tests.factories import CommunityFactory, make_id_card
    from tests.photo_server import PhotoServer
    from tests.test_apply_access import payload

    photos = PhotoServer()
    photos.trickle_interval = 1.0
    community = CommunityFactory(city_id="SLOWPHOTO-CALLS", name="slow photos", district="锦江区", street="观音桥55号")
    total_timeout = 10
    env = {"PHOTO_FETCH_ALLOWED_NETWORKS": f"127.0.0.1/32:{photos.port}",
           "PHOTO_FETCH_TOTAL_TIMEOUT": str(total_timeout), "PHOTO_FETCH_MAX_RETRIES": "1"}
    web = d.stack.gunicorn(**env)
    beat = d.stack.beat()
    d.stack.worker("slowphoto-main", queues="default", **env)
    d.stack.worker("slowphoto-photos", queues="photos", **env)
    serial = iter(range(1, 100_000))

    def phase(label: str, slow_urls: int) -> tuple[float, float]:
        """Seconds from the last call to all applied, and from the first record to all sent."""
        started = time.monotonic()
        first = len(d.row_ids)
        d.produce(records)
        ywlshs = []
        for n in range(calls):
            i = next(serial)
            url = photos.url("/trickle-body" if n < slow_urls else "/ok.jpg")
            body = payload(communityId=community.city_id, ywlsh=f"SLOW-{i}", ownerId=f"slow-owner-{i}",
                           idCard=make_id_card(9000 + i), photo=url)
            answer = requests.post(f"{web.url}/apply-access", json=body, timeout=30).json()
            if answer.get("code") != 1:
                raise RuntimeError(f"call refused: {answer}")
            ywlshs.append(body["ywlsh"])
        posted = time.monotonic()
        while ApplyAccessCall.objects.filter(ywlsh__in=ywlshs, outcome=ApplyAccessCall.Outcome.ACCEPTED).exists():
            if time.monotonic() - posted > 120:
                raise TimeoutError(f"{label}: calls not applied within 120 s")
            time.sleep(0.1)
        applied = time.monotonic() - posted
        stored = Resident.objects.filter(community=community, ywlsh__in=ywlshs).count()
        if stored != calls:
            raise RuntimeError(f"{label}: {stored} of {calls} people stored")
        rows = d.row_ids[first:]
        from uploads.models import OutboxRecord

        while OutboxRecord.objects.filter(id__in=rows).exclude(status=OutboxRecord.Status.SENT).exists():
            if time.monotonic() - started > 240:
                raise TimeoutError(f"{label}: records not sent within 240 s")
            time.sleep(0.2)
        return applied, time.monotonic() - started

    try:
        base_apply, base_sent = phase("without slow hosts", 0)
        slow_apply, slow_sent = phase("with slow hosts", slow)
        hold_started = time.monotonic()
        slow_people = Resident.objects.filter(community=community, photo_url__contains="/trickle-body")
        while slow_people.filter(photo_status=Resident.PhotoStatus.PENDING).exists():
            if time.monotonic() - hold_started > 120:
                raise TimeoutError("slow photo fetches still running after 120 s")
            time.sleep(0.5)
        failed = slow_people.exclude(photo_error="").count()
        d.notes.append(f"{calls} calls + {records} records per phase; without slow hosts: applied {base_apply:.1f} s "
                       f"after the last call, records sent in {base_sent:.1f} s; with {slow} photo hosts at 1 byte/s: "
                       f"applied {slow_apply:.1f} s, sent {slow_sent:.1f} s; {failed}/{slow} slow photos failed "
                       f"(PHOTO_FETCH_TOTAL_TIMEOUT {total_timeout} s, 1 retry), all done "
                       f"{time.monotonic() - hold_started:.0f} s later")
        d.wait_sent(60)
        if slow_apply > base_apply + 5 or slow_sent > base_sent + 10:
            raise RuntimeError("slow photo hosts held up applying calls or sending records")
    finally:
        photos.close()
        beat.stop()
        web.stop()


DRILLS: dict[str, Callable[[Drill], None]] = {
    "worker_sigkill": drill_worker_sigkill,
    "beat_restart": drill_beat_restart,
    "redis_flush_restart": drill_redis_flush_restart,
    "postgres_restart": drill_postgres_restart,
    "city_500": city_fault({"_500": 0.3}),
    "city_502_503": city_fault({"502": 0.2, "503": 0.2}),
    "city_slow": city_fault({"slow": 0.3}, slow_seconds=4),  # > UPLOAD_READ_TIMEOUT: the answer is never heard
    "city_dropped": city_fault({"drop": 0.2, "drop_after": 0.2}),
    "city_401_storm": city_fault({"expired_200": 0.3, "expired_401": 0.3}, token_lifetime=2),
    "bad_credentials": drill_bad_credentials,
    "disk_full": drill_disk_full,
    "slow_photo_hosts": drill_slow_photo_hosts,
}
QUICK = ["worker_sigkill", "city_500", "city_dropped", "city_401_storm", "bad_credentials"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drills", nargs="*", choices=[[], *DRILLS], default=[])
    parser.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK))
    options = parser.parse_args()
    names = options.drills or (QUICK if options.quick else list(DRILLS))
    stack = Stack.start("drills")
    results, failed = [], []
    try:
        for name in names:
            started = time.monotonic()
            stack.sandbox.reset()
            drill = Drill(stack, name)
            print(f"--- {name}: {(DRILLS[name].__doc__ or '').strip().splitlines()[0]}", flush=True)
            first_process = len(stack.processes)
            try:
                DRILLS[name](drill)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                drill.notes.append("FAILED: " + traceback.format_exc(limit=1).strip().splitlines()[-1][:200])
            finally:
                stack.stop_from(first_process)
            result = drill.count() | {"seconds": round(time.monotonic() - started)}
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    finally:
        stack.close()
    print(f"\n{'drill':<20} {'produced':>8} {'stored':>7} {'lost':>5} {'dup':>4} {'dup*':>5} {'s':>4}  notes")
    for r in results:
        print(f"{r['drill']:<20} {r['produced']:>8} {r['stored']:>7} {r['lost']:>5} {r['duplicated']:>4} "
              f"{r['dup_explained']:>5} {r['seconds']:>4}  {r['notes']}")
    print("dup* = duplicates whose first copy was in a batch whose answer the portal never heard")
    lost = sum(r["lost"] for r in results)
    if lost or failed:
        print(f"FAILED: {lost} records lost; drills failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
