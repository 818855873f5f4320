"""`make prod-check`: the production stack on this machine, and a smoke test through it.

Starts what docs/deploy.md deploys — gunicorn (deploy/gunicorn.conf.py), a Celery worker, a photo worker, one beat —
plus the sandbox city platform, on PostgreSQL (a fresh database, created here and dropped at the end) and
Redis (DB 10 broker, DB 11 cache, flushed before and after, so other runs on DBs 0/1 are untouched), with
DJANGO_PRODUCTION=1 and secrets generated for this run. Then: migrate, collectstatic, `check --deploy`
(must be clean), and through gunicorn: the admin login page in Chinese, a static file from WhiteNoise,
POST /apply-access accepted (code 1) and applied by the worker, the guard approving the person, a device key issued and a pass event
ingested, and that record arriving at the sandbox through the outbox. Prints PASS/FAIL per step and exits
non-zero on any failure. Environment: PRODCHECK_PG (default postgres://postgres@127.0.0.1:5432),
PRODCHECK_REDIS (default redis://127.0.0.1:6379); PRODCHECK_KEEP=1 keeps the database for inspection.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import redis
import requests
from cryptography.fernet import Fernet
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = os.environ.get("PRODCHECK_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS = os.environ.get("PRODCHECK_REDIS", "redis://127.0.0.1:6379").rstrip("/")
DB_NAME = "afxq_prodcheck"
BROKER_DB, CACHE_DB = 10, 11
DEMO = "DEMO-0001"
GUARD_LOGIN, GUARD_PASSWORD = "13900000000", "guard-demo-2026"  # seed_demo's guard
DEMO_ADMIN_PASSWORD = "admin-demo-2026"  # seed_demo's administrator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def camera_jpeg(width: int = 1920, height: int = 1080) -> bytes:
    """A frame with edges and grain (a flat image would make every size limit trivial)."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for n in range(30):
        x, y = (n * 197) % width, (n * 131) % height
        draw.rectangle((x, y, x + width // 8, y + height // 6), fill=(n * 8 % 255, 120, 255 - n * 8 % 255))
    grain = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    buffer = io.BytesIO()
    Image.blend(image, grain, 0.3).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


class PhotoServer:
    """Serves one JPEG as the city's photo URL (allowed by PHOTO_FETCH_ALLOWED_NETWORKS=127.0.0.1/32)."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/photo.jpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Stack:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_port, self.city_port = free_port(), free_port()
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.city = f"http://127.0.0.1:{self.city_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AFXQ_", "DJANGO_", "CELERY_"))},
            "DJANGO_PRODUCTION": "1",
            # Everything here is loopback (the smoke test calls apply-access from 127.0.0.1).
            "APPLY_ACCESS_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{self.web_port}",
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "CELERY_BROKER_URL": f"{REDIS}/{BROKER_DB}",
            "REDIS_URL": f"{REDIS}/{CACHE_DB}",
            "CELERY_QUEUE": "afxq-prodcheck",
            "CITY_PLATFORM_BASE_URL": self.city,
            "STATIC_ROOT": str(log_dir / "static"),
            "MEDIA_ROOT": str(log_dir / "media"),
            "PRIVATE_MEDIA_ROOT": str(log_dir / "private-media"),
            "CELERY_BEAT_SCHEDULE": str(log_dir / "celerybeat-schedule"),
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "GUNICORN_WORKERS": "2",
            "PHOTO_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
            "UPLOAD_SWEEP_SECONDS": "5",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=300)

    def start(self, name: str, args: list[str], ready: str, timeout: float = 90) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while ready not in self.output(name):
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}: {self.output(name)[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout}s: {self.output(name)[-2000:]}")
            time.sleep(0.3)

    def output(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name, proc in reversed(self.procs.items()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                print(f"  stopped {name} (exit {proc.returncode})")


class Browser:
    """A tiny cookie-keeping client that sends `X-Forwarded-Proto: https` as the TLS proxy would. requests
    would not send Secure cookies over plain http, so cookies are kept here by hand."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", "Accept-Language": "zh-hans", **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST" and "csrftoken" in self.cookies:
            origin = self.base.replace("http://", "https://")
            headers.update({"X-CSRFToken": self.cookies["csrftoken"], "Origin": origin, "Referer": origin + path})
        response = self.session.request(method, self.base + path, headers=headers, allow_redirects=False,
                                        timeout=30, **kwargs)
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        return response


def database(action: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if action == "create":
            conn.execute(f"CREATE DATABASE {DB_NAME}")


def flush_redis() -> None:
    for db in (BROKER_DB, CACHE_DB):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


def wait_for(what: str, probe: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout}s")
        time.sleep(0.5)


def smoke(stack: Stack, check: Callable[[str, bool, str], None]) -> None:
    web = Browser(stack.web)
    # The admin login page, in Chinese; a plain-http request is redirected to https.
    plain = requests.get(stack.web + "/admin/login/", allow_redirects=False, timeout=30)
    check("plain http redirected to https", plain.status_code == 301 and
          plain.headers.get("Location", "").startswith("https://"), f"HTTP {plain.status_code}")
    login = web.request("GET", "/admin/login/")
    check("admin login page in Chinese", login.status_code == 200 and "用户名" in login.text and "登录" in login.text,
          f"HTTP {login.status_code}")
    check("security headers", login.headers.get("Strict-Transport-Security", "").startswith("max-age=")
          and login.headers.get("X-Frame-Options") == "DENY", str(dict(login.headers))[:200])

    # A static file through WhiteNoise (the hashed name the page links to, cached for a year).
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', login.text)
    static = web.request("GET", css.group(1)) if css else None
    check("static file via WhiteNoise", static is not None and static.status_code == 200 and
          "max-age=315360000" in static.headers.get("Cache-Control", ""),
          f"{css.group(1) if css else 'no hashed css link'}: {static.status_code if static is not None else '-'}")

    # The city pushes a person (interface 1).
    photo = PhotoServer(camera_jpeg(800, 1000))
    person = {"address": "四川省成都市锦江区观音桥55号1栋1单元3楼01号", "name": "张三", "idCard": "510104198503151239",
              "photo": photo.url, "source": "01", "type": "01", "phone": "13812345678", "communityId": DEMO,
              "ownerId": "OWNER-PRODCHECK", "ywlsh": "YW-PRODCHECK-1", "xbdm": 1, "visitTime": None,
              "effectiveVisitTime": None}
    applied = web.request("POST", "/apply-access", json=person)
    check("POST /apply-access accepted (code 1)", applied.status_code == 200 and applied.json() == {"code": 1, "message": ""},
          f"HTTP {applied.status_code} {applied.text[:200]}")

    # The guard logs in and approves.
    guard = Browser(stack.web)
    guard.request("GET", "/guard/login/")
    logged_in = guard.request("POST", "/guard/login/", data={"username": GUARD_LOGIN, "password": GUARD_PASSWORD})
    # The call was accepted; a worker applies it (nudged at once): the person appears within a moment.
    deadline = time.monotonic() + 30
    while True:
        queue = guard.request("GET", "/guard/")
        pending = re.search(r"/guard/(\d+)/approve/", queue.text)
        if pending or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check("guard logs in and sees the person", logged_in.status_code == 302 and pending is not None,
          f"login HTTP {logged_in.status_code}, queue HTTP {queue.status_code}")
    if pending:
        approved = guard.request("POST", f"/guard/{pending.group(1)}/approve/")
        check("guard approves", approved.status_code == 302, f"HTTP {approved.status_code}")

    # The admin login lock holds across gunicorn's worker processes (counters in Redis), and is audited.
    attacker = Browser(stack.web)
    attacker.request("GET", "/admin/login/")
    for _ in range(5):
        attacker.request("POST", "/admin/login/", data={"username": "admin", "password": "wrong"})
    locked = attacker.request("POST", "/admin/login/", data={"username": "admin", "password": DEMO_ADMIN_PASSWORD})
    check("admin login locked after 5 failures (Chinese message)", locked.status_code == 200 and
          "登录失败次数过多" in locked.text, f"HTTP {locked.status_code}")
    with psycopg.connect(f"{PG}/{DB_NAME}") as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM security_auditevent GROUP BY kind").fetchall())
    check("logins, failures and the lock in the audit log", kinds.get("login", 0) >= 1 and
          kinds.get("login_failed", 0) == 5 and kinds.get("login_locked", 0) == 1, str(kinds))

    # A device key, and a pass event with a 1920x1080 capture.
    issued = stack.run("issue_device_key", "--community", DEMO, "--point", "DEMO-PP-001", "--name", "prodcheck")
    key = issued.stdout.strip()
    check("device key issued", issued.returncode == 0 and key.startswith("dk_"), issued.stderr[-300:])
    event = {"person": "OWNER-PRODCHECK", "time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
             "image": base64.b64encode(camera_jpeg()).decode(), "eventId": "prodcheck-1"}
    ingested = web.request("POST", "/api/v1/devices/pass-events", json=[event],
                           headers={"Authorization": f"Token {key}"})
    results = ingested.json().get("results", []) if ingested.headers.get("Content-Type", "").startswith(
        "application/json") else []
    accepted = ingested.status_code == 200 and results and results[0].get("status") == "accepted"
    check("pass event ingested", bool(accepted), f"HTTP {ingested.status_code} {ingested.text[:300]}")

    if accepted:
        out_id = str(results[0]["id"])

        def arrived() -> list:
            reply = requests.get(f"{stack.city}/_sandbox/records", params={"endpoint": "person-inout-info"}, timeout=10)
            return [r for r in reply.json().get("records", []) if str(r["fields"].get("outId")) == out_id]

        try:
            records = wait_for("the pass record at the sandbox", arrived, timeout=90)
            check("record delivered to the sandbox through the outbox", len(records) == 1,
                  f"outId {out_id}: {len(records)} copies")
        except TimeoutError as error:
            check("record delivered to the sandbox through the outbox", False, str(error))

    def photo_stored() -> bool:
        with psycopg.connect(f"{PG}/{DB_NAME}") as conn:
            row = conn.execute("SELECT photo_status FROM residents_resident WHERE city_owner_id = %s",
                               ["OWNER-PRODCHECK"]).fetchone()
        return bool(row) and row[0] == "ok"

    try:
        wait_for("the fetched photo", photo_stored, timeout=60)
        check("photo fetched by the worker", True, "")
    except TimeoutError as error:
        check("photo fetched by the worker", False, str(error))
    photo.server.shutdown()

    logs = "".join(stack.output(name) for name in stack.procs)
    check("ID number and phone never in clear in the logs", "510104198503151239" not in logs and
          "13812345678" not in logs, "found in a log")
    worker_lines = [line for line in stack.output("worker").splitlines() if line.startswith("{")]
    check("JSON log lines from the worker", bool(worker_lines) and all(_is_json(line) for line in worker_lines),
          f"{len(worker_lines)} JSON lines")


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def main() -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="afxq-prodcheck-"))
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, "" if ok else detail))
        print(f"  {'PASS' if ok else 'FAIL'}  {name}{'' if ok else ' — ' + detail}", flush=True)

    stack = Stack(log_dir)
    print(f"prod-check: logs in {log_dir}; database {DB_NAME}; Redis DBs {BROKER_DB}/{CACHE_DB}", flush=True)
    try:
        # PostgreSQL and Redis must be up (`.ci/run` starts them when they are not).
        database("create")
        flush_redis()
        for step in (("migrate", "--noinput"), ("collectstatic", "--noinput"), ("seed_demo",)):
            done = stack.run(*step)
            check(" ".join(step[:1]), done.returncode == 0, done.stderr[-1500:])
        deploy = stack.run("check", "--deploy", "--fail-level", "WARNING")
        check("check --deploy clean", deploy.returncode == 0 and "no issues" in deploy.stdout,
              (deploy.stdout + deploy.stderr)[-1500:])
        stack.start("sandbox", [PY, "-m", "sandbox.city", "--port", str(stack.city_port),
                                "--credentials", "demo-client:demo-secret:demo-site:demo-password"],
                    "sandbox city listening on")
        stack.start("gunicorn", [PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "afxq_portal.wsgi"],
                    "Booting worker")
        stack.start("worker", [PY, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO", "-c", "2",
                               "-n", "prodcheck@%h", "-Q", "afxq-prodcheck"], "ready")
        # As deployed: photo fetches on their own queue and worker (afxq-photo-worker@.service).
        stack.start("photo-worker", [PY, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO", "-c", "1",
                                     "-n", "prodcheck-photos@%h", "-Q", "afxq-prodcheck-photos"], "ready")
        stack.start("beat", [PY, "-m", "celery", "-A", "afxq_portal", "beat", "-l", "INFO",
                             "-s", stack.env["CELERY_BEAT_SCHEDULE"]], "beat")
        check("stack started (gunicorn, worker, photo worker, one beat, sandbox city)", True, "")
        smoke(stack, check)
    except Exception as error:  # any crash is a FAIL with its reason, and everything is still stopped
        check("prod-check ran to the end", False, f"{type(error).__name__}: {error}")
    finally:
        print("stopping:", flush=True)
        stack.stop()
        cleanup = [flush_redis] + ([] if os.environ.get("PRODCHECK_KEEP") == "1" else [lambda: database("drop")])
        for step in cleanup:
            try:
                step()
            except Exception as error:  # PostgreSQL or Redis down: said once above, not a second traceback
                print(f"  cleanup: {type(error).__name__}: {error}", flush=True)
    failed = [name for name, ok, _ in results if not ok]
    print(f"\nprod-check: {'PASS' if not failed else 'FAIL'} — {len(results) - len(failed)}/{len(results)} checks "
          f"passed{'; failed: ' + ', '.join(failed) if failed else ''}. Logs: {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
