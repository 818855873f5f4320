"""A property-staff day in headless Chromium, in Chinese (issue 14's "done when"): Alice lands on her dashboard and
reads the database's numbers; one upload the city fails turns her link 降级 on the page, without a reload; no page
she opens shows English; an outbox record has no way to be deleted; a device's endpoint URL copies to the
clipboard. Screenshots go to the test's output folder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from dashboard import figures
from devices.models import DeviceEvent
from residents.models import Resident
from tests.factories import SiteCredentialFactory
from tests.test_dashboard import world  # noqa: F401 - the fixture: a day in both communities
from tests.test_no_english import english_words
from uploads import client, outbox
from uploads.models import Endpoint, LinkState, OutboxRecord

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def database_figures(community, door_device) -> dict[str, int]:
    """What the dashboard must say, counted here from the tables."""
    now = timezone.now()
    today = figures.day_start(now)
    mine = Resident.objects.filter(community=community)
    door = door_device.point
    return {
        "people.pending": mine.filter(status=Resident.Status.PENDING).count(),
        "people.approved_today": mine.filter(status=Resident.Status.ACTIVE, reviewed_at__gte=today).count(),
        "people.rejected_today": mine.filter(status=Resident.Status.REJECTED, reviewed_at__gte=today).count(),
        "events.today": DeviceEvent.objects.filter(community=community, occurred_at__gte=today).count(),
        "link.backlog": OutboxRecord.objects.filter(community=community, status__in=("pending", "in_flight")).count(),
        f"pass.{door.pk}.in": DeviceEvent.objects.filter(point=door, direction="in", occurred_at__gte=today).count(),
        f"pass.{door.pk}.out": DeviceEvent.objects.filter(point=door, direction="out", occurred_at__gte=today).count(),
    }


def no_english(page: Page) -> None:
    assert english_words(page.content()) == [], page.url


@pytest.mark.browser
@pytest.mark.integration
def test_it_walks_alice_through_her_console_in_chinese(live_server, alice, community_a, community_b, world,  # noqa: F811
                                                       sandbox_city, settings, output_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    settings.DASHBOARD_REFRESH_SECONDS = 1
    settings.CITY_PLATFORM_BASE_URL = sandbox_city.url
    settings.UPLOAD_BATCH_SIZE = 1
    SiteCredentialFactory(community=community_a)
    client.token_store().drop(community_a.pk, client.token_store().get(community_a.pk) or "")
    # The world's link had an error a moment ago: start from a link that has not failed yet.
    LinkState.objects.filter(community=community_a).delete()
    OutboxRecord.objects.filter(community=community_a, status=OutboxRecord.Status.PENDING).update(
        created_at=timezone.now() - timedelta(seconds=5))
    record = OutboxRecord.objects.filter(community=community_a).first()
    # The helpers name devices after their kind in English: test data, named here as staff would.
    for device, name in ((world["door"], "正门人脸机"), (world["gate"], "车库相机")):
        type(device).objects.filter(pk=device.pk).update(name=name)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        no_english(page)
        page.locator("#id_username").fill("alice")
        page.locator("#id_password").fill("password-for-tests-1")
        page.locator("input[type=submit]").click()

        # The dashboard says what the tables hold.
        for key, value in database_figures(community_a, world["door"]).items():
            expect(page.locator(f"[data-figure='{key}']")).to_have_text(str(value))
        link = page.locator("[data-figure='link.state']")
        expect(link).to_have_text("健康")
        no_english(page)
        page.screenshot(path=str(output_dir / "1-dashboard.png"), full_page=True)

        # One request the city fails: the page's own poll shows the link degraded.
        sandbox_city.set_faults({"503": 1.0})
        assert outbox.drain_once(community_a.pk, Endpoint.PASS_RECORD) is outbox.Outcome.FAILED
        expect(link).to_have_text("降级", timeout=15_000)
        # Only the endpoint whose record failed: the others have nothing waiting, nothing failing.
        expect(page.locator(f"[data-figure='endpoint.{Endpoint.PASS_RECORD}.state']")).to_have_text("降级")
        expect(page.locator(f"[data-figure='endpoint.{Endpoint.FACE_SNAPSHOT}.state']")).to_have_text("健康")
        page.screenshot(path=str(output_dir / "2-degraded.png"), full_page=True)

        # The link page agrees, in the same words.
        page.locator("#city-link h2 a").click()
        expect(page.locator("#link-state")).to_contain_text("降级")
        no_english(page)

        # The outbox: no delete action, no delete link, and the delete URL refused.
        page.goto(f"{live_server.url}/admin/uploads/outboxrecord/")
        options = page.locator("select[name=action] option").all_inner_texts()
        assert options and not any("删除" in text for text in options), options
        no_english(page)
        page.goto(f"{live_server.url}/admin/uploads/outboxrecord/{record.pk}/change/")
        expect(page.locator("a.deletelink")).to_have_count(0)
        no_english(page)
        answer = page.goto(f"{live_server.url}/admin/uploads/outboxrecord/{record.pk}/delete/")
        assert answer is not None and answer.status == 403
        assert OutboxRecord.objects.filter(pk=record.pk).exists()

        # A device's page: the endpoint URL goes to the clipboard with one click.
        device = world["door"]
        page.goto(f"{live_server.url}/admin/devices/device/{device.pk}/change/")
        no_english(page)
        button = page.locator("table.device-endpoints button[data-copy]").first
        shown = page.locator(f"#{button.get_attribute('data-copy')}").inner_text().strip()
        button.click()
        expect(button).to_have_text("已复制")
        assert page.evaluate("navigator.clipboard.readText()") == shown
        assert shown.startswith(live_server.url)
        page.screenshot(path=str(output_dir / "3-device.png"), full_page=True)
        browser.close()
