"""The screenshots in docs/screenshots/: the dashboard, the link page and the guard page at phone size, taken
from the demo (seed_demo, a throw-away SQLite database) in zh-hans with Debian's Chromium.

    .venv/bin/python scripts/screenshots.py [OUT_DIR]

Nothing here is a test: it only draws what a property office sees, for the README.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


# A month of demo activity, so that the pictures show what a community's day looks like: people waiting for
# review, devices (one silent), passes and snapshots at every point over 30 days.
DEMO_ACTIVITY = """
import datetime as dt, random
from django.utils import timezone
from communities.models import Community, Room
from devices.keys import issue_device_key
from devices.models import Device, DeviceEvent
from residents.models import Resident
from residents.services import store_photo
from sandbox.city import portrait
from tests.factories import ResidentFactory
random.seed(7)
community = Community.objects.get(city_id="DEMO-0001")
rooms = list(Room.objects.filter(building__community=community)[:10])
for n in range(10):
    url = f"http://127.0.0.1/_sandbox/photos/{n}.jpg"
    person = ResidentFactory(community=community, room=rooms[n % len(rooms)], photo_url=url,
                             status=Resident.Status.PENDING if n < 4 else Resident.Status.ACTIVE)
    store_photo(person.pk, url, portrait(n))
now = timezone.now()
kinds = {"face_panel": "pass", "face_snapshot": "face", "vehicle_snapshot": "car"}
events = []
for number, point in enumerate(community.points.all()):
    device, _key = issue_device_key(point=point, name=f"{point.number} 设备", acting_user=None)
    Device.objects.filter(pk=device.pk).update(last_seen_at=now - dt.timedelta(minutes=2 if number else 95))
    for _ in range(700):
        back = dt.timedelta(days=random.random() ** 2 * 30)
        events.append(DeviceEvent(community=community, device=device, point=point, kind=kinds[point.kind],
                                  occurred_at=now - back, direction=random.choice(["in", "out"])))
DeviceEvent.objects.bulk_create(events)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the portal did not answer at {url}")


def log_in(page: Page, base: str, path: str, username: str, password: str) -> None:
    page.goto(f"{base}{path}")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="afxq-screenshots-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "MEDIA_ROOT": str(work / "media"),
           "PRIVATE_MEDIA_ROOT": str(work / "private"), "CELERY_BROKER_FOLDER": str(work / "broker"),
           "DJANGO_DEBUG": "1"}
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "seed_demo"], env=env, check=True)
    subprocess.run([*manage, "shell", "-c", DEMO_ACTIVITY], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "demo_uploads", "--count", "30"], env=env, check=True)
    port = free_port()
    server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/admin/login/")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            desktop = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page = desktop.new_page()
            log_in(page, base, "/admin/login/", "staff", "staff-demo-2026")
            page.goto(f"{base}/admin/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "dashboard.png"), full_page=True)
            page.goto(f"{base}/admin/uploads/outboxrecord/link/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "link.png"), full_page=True)
            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True, locale="zh-CN")
            page = phone.new_page()
            log_in(page, base, "/guard/login/", "13900000000", "guard-demo-2026")
            page.goto(f"{base}/guard/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "guard-phone.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
