"""The dashboard in headless Chromium, in Chinese: Alice logs in, lands on her community's dashboard, reads
the number of people waiting for review, and sees it change without reloading when one more arrives (our
own script polls the JSON endpoint). Screenshots go to the test's output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from residents.models import Resident
from tests.factories import ResidentFactory

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.mark.browser
def test_it_lands_alice_on_her_live_dashboard(live_server, alice, community_a, community_b, settings,
                                              output_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    settings.DASHBOARD_REFRESH_SECONDS = 1
    ResidentFactory.create_batch(3, community=community_a, status=Resident.Status.PENDING)
    ResidentFactory.create_batch(4, community=community_b, status=Resident.Status.PENDING)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN").new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.locator("#id_username").fill("alice")
        page.locator("#id_password").fill("password-for-tests-1")
        page.locator("input[type=submit]").click()

        pending = page.locator("[data-figure='people.pending']")
        expect(pending).to_have_text("3")
        expect(page.locator("#people")).to_contain_text("待审核")
        expect(page.locator("#city-link")).to_contain_text("健康")
        expect(page.locator("[data-chart='hourly'] svg rect")).to_have_count(24)
        page.screenshot(path=str(output_dir / "1-dashboard.png"), full_page=True)

        ResidentFactory(community=community_a, status=Resident.Status.PENDING)
        expect(pending).to_have_text("4", timeout=15_000)  # the page's own poll, no reload
        page.screenshot(path=str(output_dir / "2-refreshed.png"), full_page=True)

        page.get_by_role("link", name="全部应用").click()
        expect(page.locator("#content-main")).to_be_visible()
        browser.close()
