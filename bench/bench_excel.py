"""Benchmark of the residents Excel import (residents/excel): seconds and peak memory of the check
pass (dry run) and of the write pass, for 10,000 and 100,000 rows, next to the floor measured in the
same run (openpyxl read-only iterating the same file with no checks). Not a test: nothing is asserted.

Each measurement runs in its own process so that its peak resident memory (ru_maxrss) is its own.
The write pass runs the real job task (residents.run_import_job) and a thread samples the job row's
progress, to show the progress bar advancing on a 100,000-row file.
Database: a throwaway SQLite file by default; BENCH_DATABASE_URL=postgres://... to use PostgreSQL
(the database is flushed of residents between sizes, so give it an empty database).
Run: `make bench` or `.venv/bin/python bench/bench_excel.py [10000 100000]`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(args: list[str]) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="afxq_portal.settings")
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, cwd=ROOT, capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- children -------------------------------------------------------------------------------------

def _setup_django() -> None:
    import django

    django.setup()


def do_setup() -> dict:
    _setup_django()
    from django.core.management import call_command

    from communities.models import Building, Community, Room

    call_command("migrate", verbosity=0)
    community, _ = Community.objects.get_or_create(
        city_id="BENCH", defaults={"name": "基准小区", "district": "锦江区", "street": "观音桥55号"})
    if not Room.objects.filter(building__community=community).exists():
        buildings = Building.objects.bulk_create([Building(community=community, number=str(b)) for b in range(1, 31)])
        Room.objects.bulk_create([Room(building=b, unit=str(u), floor=str(f), number=f"0{r}")
                                  for b in buildings for u in range(1, 5) for f in range(1, 31) for r in range(1, 5)])
    return {"rooms": Room.objects.filter(building__community=community).count()}


def do_make(rows: int, out: str) -> dict:
    import datetime as dt

    _setup_django()

    from openpyxl import Workbook

    from residents.excel.columns import COLUMNS
    from tests.factories import make_id_card

    started = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("人员信息")
    sheet.append([c.header for c in COLUMNS])
    for n in range(rows):
        birth = (dt.date(1950, 1, 1) + dt.timedelta(days=n // 1000)).strftime("%Y%m%d")
        room = n % 14400
        building, rest = divmod(room, 480)
        unit, rest = divmod(rest, 120)
        floor, number = divmod(rest, 4)
        sheet.append([f"居民{n}", make_id_card(n, birth=birth), f"139{n:08d}", "男" if n % 2 else "女",
                      "住户" if n % 3 else "租户", str(building + 1), str(unit + 1), str(floor + 1), f"0{number + 1}"])
    book.save(out)
    return {"seconds": round(time.perf_counter() - started, 2), "bytes": Path(out).stat().st_size}


def do_floor(path: str) -> dict:
    import openpyxl

    _setup_django()  # the same interpreter baseline as the check pass

    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.worksheets[0].iter_rows(min_row=2, values_only=True))
    book.close()
    return {"seconds": round(time.perf_counter() - started, 2), "rows": count, "peak_mb": peak_mb()}


def do_check(path: str) -> dict:
    _setup_django()
    from communities.models import Community
    from residents.excel.importer import run_import

    community = Community.objects.get(city_id="BENCH")
    started = time.perf_counter()
    summary = run_import(Path(path), community, commit=False, result_path=Path(path).with_suffix(".checked.xlsx"))
    return {"seconds": round(time.perf_counter() - started, 2), "rows": summary.rows, "accepted": summary.accepted,
            "peak_mb": peak_mb()}


def do_write(path: str) -> dict:
    _setup_django()
    from django.db import connections

    from communities.models import Community
    from residents.excel.models import ImportJob
    from residents.excel.tasks import run_import_job
    from residents.models import Resident

    community = Community.objects.get(city_id="BENCH")
    media = Path(ImportJob._meta.get_field("file").storage.location) / "imports"
    media.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, media / Path(path).name)
    job = ImportJob.objects.create(community=community, original_name=Path(path).name, file=f"imports/{Path(path).name}",
                                   status=ImportJob.Status.WRITE_QUEUED)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch() -> None:  # what the progress bar sees: the job row, polled
        start = time.perf_counter()
        while not stop.is_set():
            done = ImportJob.objects.filter(pk=job.pk).values_list("rows_done", flat=True).first()
            samples.append((round(time.perf_counter() - start, 1), done))
            stop.wait(1.0)
        connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    outcome = run_import_job(job.pk)
    seconds = round(time.perf_counter() - started, 2)
    stop.set()
    watcher.join()
    job.refresh_from_db()
    distinct = sorted({d for _t, d in samples if d})
    return {"seconds": seconds, "outcome": outcome, "status": job.status, "written": job.rows_written,
            "residents": Resident.objects.filter(community=community).count(), "peak_mb": peak_mb(),
            "progress_samples": len(samples), "progress_distinct": len(distinct),
            "progress_first": samples[:3], "progress_last": samples[-2:]}


def do_reset() -> dict:
    _setup_django()
    from residents.models import ImportJob, Resident

    Resident.objects.filter(community__city_id="BENCH").delete()
    ImportJob.objects.filter(community__city_id="BENCH").delete()
    return {}


# --- the run --------------------------------------------------------------------------------------

def main(sizes: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-excel-"))
    os.environ.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}"))
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ["PRIVATE_MEDIA_ROOT"] = str(work / "private-media")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "0")  # DEBUG keeps every query in memory: not what production runs
    print(f"database {os.environ['DATABASE_URL'].split('@')[-1]}, {child(['setup'])['rooms']} rooms; files in {work}")
    print(f"{'rows':>8} | {'floor s':>7} {'MB':>5} | {'check s':>7} {'MB':>5} {'ratio':>5} | "
          f"{'write s':>7} {'MB':>5} | written | progress samples (distinct values)")
    for rows in sizes:
        path = str(work / f"people-{rows}.xlsx")
        made = child(["make", str(rows), path])
        floor = child(["floor", path])
        check = child(["check", path])
        write = child(["write", path])
        print(f"{rows:>8} | {floor['seconds']:>7} {floor['peak_mb']:>5} | {check['seconds']:>7} {check['peak_mb']:>5} "
              f"{check['seconds'] / floor['seconds']:>5.2f} | {write['seconds']:>7} {write['peak_mb']:>5} | "
              f"{write['written']:>7} | {write['progress_samples']} ({write['progress_distinct']})")
        print(f"         file {made['bytes'] // 1024} KB written in {made['seconds']} s; check accepted "
              f"{check['accepted']}/{check['rows']}; job {write['status']}, residents {write['residents']}; "
              f"progress first {write['progress_first']} last {write['progress_last']}")
        child(["reset"])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        result = {"setup": lambda: do_setup(), "make": lambda: do_make(int(rest[0]), rest[1]),
                  "floor": lambda: do_floor(rest[0]), "check": lambda: do_check(rest[0]),
                  "write": lambda: do_write(rest[0]), "reset": lambda: do_reset()}[kind]()
        print(json.dumps(result, ensure_ascii=False))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
