"""Property staff import a workbook in the admin: upload, watch the progress bar advance while a real
Celery worker checks 20,000 rows, read the summary, confirm, watch it write. Headless Chromium;
screenshots in the test's output folder. (100,000 rows: bench/bench_excel.py, same job code.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from residents.models import ImportJob, Resident
from tests.factories import BuildingFactory, RoomFactory
from tests.test_excel_admin_job import people_book

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ROWS = 20000


def watch_progress(page, until_status: set[str], timeout: float = 180) -> list[tuple[int, int]]:
    """(value, max) of the progress bar as the page shows it, until the job leaves the running states."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box = page.locator("#import-job")
        if box.count() and box.get_attribute("data-status") in until_status:
            return seen
        bar = page.locator("#import-progress")
        if bar.count():
            try:
                seen.append(tuple(bar.evaluate("e => [e.value, e.max]")))
            except Exception:
                pass
        page.wait_for_timeout(250)
    raise AssertionError(f"the job did not finish; progress seen: {seen[-5:]}")


@pytest.mark.browser
def test_it_shows_an_advancing_progress_bar_and_imports_after_confirmation(
        live_server, alice, community_a, celery_worker, output_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    building = BuildingFactory(community=community_a, number="1")
    for n in range(1, 4):
        RoomFactory(building=building, unit="1", floor="3", number=f"0{n}")
    book = people_book(tmp_path / "住户名单.xlsx", ROWS, bad_every=1000)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{live_server.url}/admin/login/?next=/admin/residents/importjob/")
        page.locator("#id_username").fill("alice")
        page.locator("#id_password").fill("password-for-tests-1")
        page.locator("input[type=submit]").click()
        page.locator("a[href$='/importjob/upload/']").first.click()
        page.locator("#id_community").select_option(str(community_a.pk))
        page.locator("#id_file").set_input_files(str(book))
        page.screenshot(path=str(output_dir / "1-upload.png"), full_page=True)
        page.locator("#upload-form input[type=submit]").click()

        expect(page.locator("#import-progress")).to_be_visible()
        seen = watch_progress(page, {"checked", "failed", "cancelled"})
        page.screenshot(path=str(output_dir / "3-checked.png"), full_page=True)
        # The bar advanced in steps while the worker checked: several distinct values below the total.
        partial = sorted({value for value, maximum in seen if 0 < value < ROWS})
        assert len(partial) >= 2, seen
        assert [v for v, _m in seen if v] == sorted(v for v, _m in seen if v)  # never goes back
        expect(page.locator("#summary-rows")).to_have_text(str(ROWS))
        expect(page.locator("#summary-refused")).to_have_text(str(ROWS // 1000))
        expect(page.locator("#problems")).to_contain_text("手机号")
        assert not Resident.objects.exists()

        page.locator("#confirm-import").click()
        watch_progress(page, {"done", "failed", "cancelled"})
        expect(page.locator("#summary-written")).to_have_text(str(ROWS - ROWS // 1000))
        expect(page.locator("#result-link")).to_be_visible()
        page.screenshot(path=str(output_dir / "4-done.png"), full_page=True)
        browser.close()

    job = ImportJob.objects.get()
    assert job.status == "done" and job.confirmed_by == alice
    assert Resident.objects.filter(community=community_a).count() == ROWS - ROWS // 1000
