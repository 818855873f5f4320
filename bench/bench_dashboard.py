"""Benchmark of the dashboard's queries (dashboard/figures.py) on a big table: 1,000,000 device events over 100
communities in the last 30 days (plus points, devices, people and outbox rows), in a throw-away SQLite database
built with bulk_create. Times, median of BENCH_ROUNDS runs: one community's page, the overview of all 100 (a
platform administrator) and of one, the JSON endpoint through Django's test client, against a floor: one bare
COUNT of that community's events of the last 30 days. Not a test: nothing is asserted.
Run: `make bench` or `.venv/bin/python bench/bench_dashboard.py` (BENCH_EVENTS, BENCH_COMMUNITIES, BENCH_ROUNDS).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="afxq-bench-dashboard-"))
os.environ.update({"DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}", "MEDIA_ROOT": str(WORK / "media"),
                   "PRIVATE_MEDIA_ROOT": str(WORK / "private"), "CELERY_BROKER_FOLDER": str(WORK / "broker"),
                   "CELERY_BROKER_URL": "filesystem://", "LOG_LEVEL": "WARNING"})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from communities.models import Community, Membership, MonitoringPoint  # noqa: E402
from dashboard import figures  # noqa: E402
from devices.models import Device, DeviceEvent  # noqa: E402
from residents.models import Resident  # noqa: E402
from uploads.models import Endpoint, OutboxRecord  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
COMMUNITIES = int(os.environ.get("BENCH_COMMUNITIES", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
POINTS, DEVICES_PER_POINT, PEOPLE, OUTBOX = 4, 2, 200, 500  # per community


def build() -> tuple[list[Community], float]:
    start = time.perf_counter()
    rng = random.Random(14)
    now = timezone.now()
    communities = Community.objects.bulk_create([
        Community(name=f"小区{n}", city_id=f"BENCH-{n:03d}", district="锦江区", street=f"街{n}号")
        for n in range(COMMUNITIES)])
    points = MonitoringPoint.objects.bulk_create([
        MonitoringPoint(community=c, police_point_id=f"PP-{c.pk}-{p}", number=f"门{p}", provincial_name=f"门{p}")
        for c in communities for p in range(POINTS)])
    devices = Device.objects.bulk_create([
        Device(point=p, name=f"dev-{p.pk}-{d}", key_prefix=f"k{p.pk}x{d}", key_hash="x",
               last_seen_at=now - timedelta(seconds=rng.randint(0, 7200))) for p in points
        for d in range(DEVICES_PER_POINT)])
    by_point = {p.pk: [d for d in devices if d.point_id == p.pk] for p in points}
    Resident.objects.bulk_create([
        Resident(community=c, name=f"居民{n}", id_card="510104199001011230", id_card_hash=f"{c.pk}-{n}",
                 phone="13800000000", person_type="01",
                 status=rng.choice(["pending", "active", "active", "rejected"]),
                 reviewed_at=now - timedelta(hours=rng.randint(0, 72)),
                 valid_until=now + timedelta(days=rng.randint(1, 60))) for c in communities for n in range(PEOPLE)],
        batch_size=5000)
    OutboxRecord.objects.bulk_create([
        OutboxRecord(community=c, endpoint=rng.choice([e.value for e in Endpoint]), fields={},
                     status=rng.choice(["pending", "sent", "sent", "sent", "dead"]),
                     sent_at=now - timedelta(hours=rng.randint(0, 48))) for c in communities for _n in range(OUTBOX)],
        batch_size=5000)
    window = 30 * 86400
    batch: list[DeviceEvent] = []
    for n in range(EVENTS):
        point = points[rng.randrange(len(points))]
        batch.append(DeviceEvent(community_id=point.community_id, point=point,
                                 device=by_point[point.pk][n % DEVICES_PER_POINT], kind="pass",
                                 occurred_at=now - timedelta(seconds=rng.randrange(window)),
                                 direction="in" if n % 2 else "out"))
        if len(batch) == 20000:
            DeviceEvent.objects.bulk_create(batch)
            batch = []
    DeviceEvent.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner's statistics, as a long-running database has them
    return communities, time.perf_counter() - start


def median_ms(work: Callable[[], object]) -> float:
    work()  # warm: SQLite's page cache, Django's query compilation
    times = []
    for _round in range(ROUNDS):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    call_command("migrate", verbosity=0)
    communities, built = build()
    one = communities[len(communities) // 2]
    staff = get_user_model().objects.create_user("bench-staff", password="x", is_staff=True)
    Membership.objects.create(user=staff, community=one)
    root = get_user_model().objects.create_superuser("bench-root", password="x")
    staff_client, root_client = Client(), Client()
    staff_client.force_login(staff)
    root_client.force_login(root)
    since = timezone.now() - timedelta(days=30)
    every = Community.objects.all()
    figures_ = {
        "floor: COUNT of one community's events, 30 days": median_ms(
            lambda: DeviceEvent.objects.filter(community=one, occurred_at__gte=since).count()),
        "one community's page (figures.community_page)": median_ms(lambda: figures.community_page(one)),
        f"overview of {COMMUNITIES} communities (figures.overview)": median_ms(lambda: figures.overview(every)),
        "overview of one community": median_ms(lambda: figures.overview(every.filter(pk=one.pk))),
        "JSON endpoint, one community (test client)": median_ms(
            lambda: staff_client.get(reverse("dashboard:community-data", args=[one.pk]))),
        f"JSON endpoint, overview of {COMMUNITIES} (test client)": median_ms(
            lambda: root_client.get(reverse("dashboard:overview-data"))),
    }
    per_community = DeviceEvent.objects.filter(community=one).count()
    print(f"dashboard bench: {EVENTS:,} events over {COMMUNITIES} communities ({per_community:,} in the measured "
          f"one), built in {built:.0f} s; SQLite; median of {ROUNDS}")
    for name, ms in figures_.items():
        print(f"  {name:<52} {ms:8.1f} ms")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)  # a quarter of a gigabyte of throw-away SQLite
