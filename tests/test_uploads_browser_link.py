"""Link monitoring in headless Chromium, in Chinese: property staff find the monitoring page from the
outbox list, see their community down with its backlog and dead letters (and no other community), and
put the dead letters back in the queue. Screenshots go to the test's output folder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from uploads.models import Endpoint, LinkState, OutboxRecord
from uploads.testing import pass_record

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def rows(community, status: str, count: int, **extra) -> None:
    for n in range(count):
        OutboxRecord.objects.create(community=community, endpoint=Endpoint.PASS_RECORD,
                                    fields=pass_record(community, n)[0], status=status, **extra)


@pytest.mark.browser
def test_it_shows_staff_their_link_down_and_lets_them_retry_dead_letters(
        live_server, alice, community_a, community_b, output_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    an_hour_ago = timezone.now() - timedelta(hours=1)
    rows(community_a, OutboxRecord.Status.PENDING, 4, created_at=an_hour_ago, last_error="HTTP 503")
    rows(community_a, OutboxRecord.Status.DEAD, 2, attempts=50, last_error="_500 sandbox: injected failure")
    rows(community_b, OutboxRecord.Status.PENDING, 7)
    LinkState.objects.create(community=community_a, alert_state=LinkState.Alert.DOWN, down_since=an_hour_ago,
                             last_error="HTTP 503: <html>Bad Gateway</html>", last_error_at=timezone.now())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.locator("#id_username").fill("alice")
        page.locator("#id_password").fill("password-for-tests-1")
        page.locator("input[type=submit]").click()

        page.goto(f"{live_server.url}/admin/uploads/outboxrecord/")
        page.get_by_role("link", name="连接监控").click()
        overview = page.locator("#link-overview")
        expect(overview).to_contain_text(community_a.name)
        expect(overview).not_to_contain_text(community_b.name)
        expect(overview.locator(".link-state")).to_contain_text("掉线")
        page.screenshot(path=str(output_dir / "1-overview.png"), full_page=True)

        page.get_by_role("link", name=community_a.name).click()
        expect(page.locator("#link-state")).to_contain_text("掉线")
        expect(page.locator("#last-error")).to_contain_text("HTTP 503")
        expect(page.locator("tr[data-endpoint='person-inout-info'] .backlog")).to_have_text("4")
        expect(page.locator("tr[data-endpoint='person-inout-info'] .dead")).to_have_text("2")
        page.screenshot(path=str(output_dir / "2-community.png"), full_page=True)

        page.get_by_role("link", name="2", exact=True).click()  # the dead letters, filtered
        expect(page.locator("#result_list tbody tr")).to_have_count(2)
        page.locator("#action-toggle").check()
        page.locator("select[name=action]").select_option("retry_dead_letters")
        page.locator("button[name=index]").click()
        expect(page.locator("ul.messagelist")).to_contain_text("2")
        page.screenshot(path=str(output_dir / "3-retried.png"), full_page=True)
        browser.close()

    assert OutboxRecord.objects.filter(community=community_a, status=OutboxRecord.Status.DEAD).count() == 0
    assert OutboxRecord.objects.filter(community=community_a, status=OutboxRecord.Status.PENDING).count() == 6
