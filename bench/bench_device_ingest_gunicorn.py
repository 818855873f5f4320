"""Benchmark: pass-event ingest (`POST /api/v1/devices/pass-events`, one event with its capture per request)
under gunicorn on PostgreSQL, at 8 and 32 concurrent clients, against the floor measured in the same run: a bare
Django view in the same server doing only the image work of that event (`/bench-image-floor` in
`bench/http_urls.py`: the JSON body parsed, the capture's base64 decoded, one decode at the reduced scale and one
resize and one encode per output, at the sizes and qualities the pipeline chose; nothing stored).

Captures: camera-like frames (tests/photos.py) at 1280x720, 1920x1080 and 2688x1520. Each row runs the floor, the
JSON ingest and the multipart ingest (the capture as a raw JPEG part: no base64) in turn, in short slices. Every
request sends the same frame: the pipeline's memory of the point (devices.images) is warm after each worker's
first request, as it is for a camera sending frames alike.

Stack: drills/stack.py (a private PostgreSQL cluster and Redis, created and removed by the run), gunicorn with the
production layout (2 × cores + 1 sync workers) and DB_CONN_MAX_AGE=60, DEBUG off; no Celery worker runs (the
outbox rows wait). Load generator: wrk (2 threads, `bench/device_ingest.lua`), on the same 2 cores.
Not a test: nothing is asserted. Run: `.venv/bin/python bench/bench_device_ingest_gunicorn.py`
(BENCH_CLIENTS=8,32, BENCH_SLICES=4 slices of BENCH_SECONDS=4 per variant, BENCH_SIZES=1280x720,1920x1080,
2688x1520).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills.stack import Stack

CLIENTS = [int(n) for n in os.environ.get("BENCH_CLIENTS", "8,32").split(",")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))  # per slice
SLICES = int(os.environ.get("BENCH_SLICES", "4"))
SIZES = [tuple(int(side) for side in size.split("x"))
         for size in os.environ.get("BENCH_SIZES", "1280x720,1920x1080,2688x1520").split(",")]
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
LUA = Path(__file__).resolve().parent / "device_ingest.lua"
BOUNDARY = "afxq-bench-boundary"


def wrk(url: str, path: str, body: bytes, content_type: str, auth: str, clients: int, seconds: int = SECONDS) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".body") as file:
        file.write(body)
        file.flush()
        env = {**os.environ, "BENCH_PATH": path, "BENCH_BODY_FILE": file.name, "BENCH_CONTENT_TYPE": content_type,
               "BENCH_AUTH": auth}
        result = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
                                 "-s", str(LUA), url], capture_output=True, text=True, errors="replace", env=env,
                                check=True)
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    requests, bad, p50, p99, duration, socket_errors = line.split()[1:]
    if int(bad) or int(socket_errors):
        print(path[:40], result.stderr.strip(), f"{bad} bad, {socket_errors} socket errors", file=sys.stderr)
    return {"requests": int(requests), "bad": int(bad), "socket_errors": int(socket_errors),
            "seconds": float(duration), "per_s": round(int(requests) / float(duration), 1), "p50_ms": round(float(p50)),
            "p99_ms": round(float(p99))}


def combined(runs: list[dict]) -> dict:
    """The slices of one variant as one run: requests over their summed time; the median of their p50s and the
    highest of their p99s (percentiles of slices do not add up)."""
    seconds = sum(run["seconds"] for run in runs)
    requests = sum(run["requests"] for run in runs)
    return {"requests": requests, "seconds": round(seconds, 1), "bad": sum(run["bad"] for run in runs),
            "socket_errors": sum(run["socket_errors"] for run in runs),
            "per_s": round(requests / seconds, 1) if seconds else 0.0,
            "p50_ms": sorted(run["p50_ms"] for run in runs)[len(runs) // 2],
            "p99_ms": max(run["p99_ms"] for run in runs)}


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n'
              f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n" for name, data in files.items()]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    # Media on a tmpfs of its own: each stored event writes about 180 kB of images, and a run stores thousands.
    stack = Stack.start("bench-ingest", media_mb=4096, pg_port=5447, redis_port=6397, LOG_LEVEL="WARNING",
                        DB_CONN_MAX_AGE="60")
    try:
        run(stack)
    finally:
        stack.close()


def run(stack: Stack) -> None:
    from communities.models import MonitoringPoint
    from devices import images
    from devices.keys import issue_device_key
    from devices.models import DeviceEvent
    from tests import photos
    from tests.factories import CommunityFactory, PointFactory, ResidentFactory

    community = CommunityFactory(city_id="BENCH")
    ResidentFactory(community=community, city_owner_id="owner-1")
    point = PointFactory(community=community, kind=MonitoringPoint.Kind.FACE_PANEL)
    auth = f"Token {issue_device_key(point=point, acting_user=None)[1]}"
    web = stack.gunicorn(workers=WORKERS, settings_module="bench.http_settings")
    ingest = "/api/v1/devices/pass-events"
    rows = []
    for width, height in SIZES:
        capture = photos.jpeg_bytes(photos.photo(width, height))
        small, big = images.pass_record_images(capture)
        outputs = [big] if small is big else [small, big]
        floor_path = "/bench-image-floor?" + "&".join(f"out={o.width}x{o.height}q{o.quality}" for o in outputs)
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        fields = {"person": "owner-1", "time": moment}
        as_json = json.dumps({**fields, "image": base64.b64encode(capture).decode()}).encode()
        as_multipart = multipart(fields, {"image": capture})
        form = f"multipart/form-data; boundary={BOUNDARY}"
        # Warm-up: every worker has imported the views and remembers the point's fit.
        for path, body, content_type in ((floor_path, as_json, "application/json"),
                                         (ingest, as_json, "application/json"), (ingest, as_multipart, form)):
            wrk(web.url, path, body, content_type, auth, 2 * WORKERS, seconds=3)
        variants = {"floor": (floor_path, as_json, "application/json"), "json": (ingest, as_json, "application/json"),
                    "multipart": (ingest, as_multipart, form)}
        for clients in CLIENTS:
            # Interleaved in short slices (floor, JSON, multipart, floor, …): a change in the machine's load
            # (other engineers' suites) then weighs on the three alike.
            slices: dict[str, list[dict]] = {name: [] for name in variants}
            for _slice in range(SLICES):
                for name, (path, body, content_type) in variants.items():
                    slices[name].append(wrk(web.url, path, body, content_type, auth, clients))
            row = {"capture": f"{width}x{height}", "capture_kb": len(capture) // 1000,
                   "json_body_kb": len(as_json) // 1000, "clients": clients,
                   **{name: combined(runs) for name, runs in slices.items()}}
            for name in ("json", "multipart"):  # 0 when the floor answered nothing within its slices
                row[f"{name}_ratio"] = round(row[name]["per_s"] / (row["floor"]["per_s"] or float("inf")), 2)
            rows.append(row)
    stored = DeviceEvent.objects.count()
    web.stop()
    print(json.dumps({"bench": "device_ingest_gunicorn", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "cpus": os.cpu_count(), "load": os.getloadavg()[0], "seconds_per_slice": SECONDS,
                      "slices": SLICES,
                      "gunicorn_workers": WORKERS, "events_stored": stored, "rows": rows}))
    print(f"\npass-event ingest under gunicorn ({WORKERS} sync workers) on PostgreSQL, wrk 2 threads, {SLICES} "
          f"interleaved slices of {SECONDS} s per variant, {os.cpu_count()} CPUs ({platform.node()}), load {os.getloadavg()[0]:.1f}; floor = a bare view doing "
          f"only the image work, same server, same run")
    print(f"{'capture':>9} {'clients':>7} | {'floor/s':>7} {'p50':>5} {'p99':>5} | {'JSON/s':>6} {'p50':>5} {'p99':>5} "
          f"{'× floor':>7} | {'multipart/s':>11} {'p50':>5} {'p99':>5} {'× floor':>7} | bad")
    for r in rows:
        f, j, m = r["floor"], r["json"], r["multipart"]
        bad = sum(x["bad"] + x["socket_errors"] for x in (f, j, m))
        print(f"{r['capture']:>9} {r['clients']:>7} | {f['per_s']:>7} {f['p50_ms']:>5} {f['p99_ms']:>5} | "
              f"{j['per_s']:>6} {j['p50_ms']:>5} {j['p99_ms']:>5} {r['json_ratio']:>7.2f} | {m['per_s']:>11} "
              f"{m['p50_ms']:>5} {m['p99_ms']:>5} {r['multipart_ratio']:>7.2f} | {bad}")
    print(f"events stored: {stored} (latencies in ms)")


if __name__ == "__main__":
    main()
