"""A guard reviews on a phone: logs in with phone and password, approves one person, tries to
reject without a reason (the browser stops it), rejects another with a reason. Headless Chromium,
phone viewport, screenshots in the test's output folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from residents import services
from residents.models import PersonType, Resident
from tests.factories import ResidentFactory
from tests.photos import jpeg_bytes, photo

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.mark.browser
def test_it_lets_a_guard_approve_and_reject_on_a_phone(live_server, community_a, community_b, gary,
                                                      output_dir: Path, monkeypatch) -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    first = ResidentFactory(community=community_a, name="王五", status=Resident.Status.PENDING,
                            photo_url="http://photos.example.com/1.jpg", photo_status=Resident.PhotoStatus.PENDING)
    services.store_photo(first.pk, first.photo_url, jpeg_bytes(photo(300, 400)))
    second = ResidentFactory(community=community_a, name="孙七", status=Resident.Status.PENDING,
                             person_type=PersonType.VISITOR, valid_from=timezone.now(),
                             valid_until=timezone.now() + dt.timedelta(days=2))
    other = ResidentFactory(community=community_b, name="赵六", status=Resident.Status.PENDING)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                      is_mobile=True, has_touch=True, locale="zh-CN")
        page = context.new_page()
        page.goto(f"{live_server.url}/guard/")
        expect(page.get_by_role("heading", name="门卫登录")).to_be_visible()
        page.screenshot(path=str(output_dir / "1-login.png"), full_page=True)
        page.get_by_label("手机号").fill("13900000001")
        page.get_by_label("密码").fill("password-for-tests-1")
        page.get_by_role("button", name="登录").click()

        expect(page.locator(".count")).to_contain_text("2 人待审核")
        expect(page.locator(f"#person-{first.pk} img.photo")).to_be_visible()
        # The protected photo view serves the stored JPEG to this guard (the image loads asynchronously).
        page.wait_for_function(f"() => document.querySelector('#person-{first.pk} img.photo').complete")
        assert page.locator(f"#person-{first.pk} img.photo").evaluate("img => img.naturalWidth") == 300
        assert "赵六" not in page.content()
        page.screenshot(path=str(output_dir / "2-queue.png"), full_page=True)

        # Approving asks once more (residents/static/residents/guard.js): two taps.
        page.get_by_test_id(f"approve-{first.pk}").tap()
        expect(page.get_by_test_id(f"approve-{first.pk}")).to_have_text("再点一次确认通过")
        page.get_by_test_id(f"approve-{first.pk}").tap()
        expect(page.get_by_role("status")).to_contain_text("已通过 王五")
        expect(page.locator(".count")).to_contain_text("1 人待审核")

        # No reason: the browser refuses to submit (required field), nothing changes.
        page.get_by_test_id(f"reject-{second.pk}").tap()
        expect(page.locator(".count")).to_contain_text("1 人待审核")
        second.refresh_from_db()
        assert second.status == Resident.Status.PENDING

        page.get_by_test_id(f"reason-{second.pk}").fill("访客信息不符")
        page.screenshot(path=str(output_dir / "3-rejecting.png"), full_page=True)
        page.get_by_test_id(f"reject-{second.pk}").tap()
        expect(page.get_by_role("status")).to_contain_text("已驳回 孙七")
        expect(page.get_by_text("暂无待审核人员。")).to_be_visible()
        expect(page.locator("ul.history")).to_contain_text("访客信息不符")
        page.screenshot(path=str(output_dir / "4-done.png"), full_page=True)

        page.goto(f"{live_server.url}/guard/{second.pk}/")
        expect(page.locator("ul.history")).to_contain_text("待审核 → 已驳回")
        page.screenshot(path=str(output_dir / "5-history.png"), full_page=True)
        # Another community's person is not there, whatever the URL.
        response = page.goto(f"{live_server.url}/guard/{other.pk}/")
        assert response.status == 404
        browser.close()
        # Playwright's sync API runs this block in a greenlet with its own context, so the ORM call above
        # opened a database connection of its own: close it, or PostgreSQL cannot drop the test database.
        connections.close_all()

    first.refresh_from_db()
    second.refresh_from_db()
    other.refresh_from_db()
    assert (first.status, first.reviewed_by) == (Resident.Status.ACTIVE, gary)
    assert (second.status, second.reject_reason) == (Resident.Status.REJECTED, "访客信息不符")
    assert other.status == Resident.Status.PENDING
    for name in ("1-login", "2-queue", "3-rejecting", "4-done", "5-history"):
        assert (output_dir / f"{name}.png").stat().st_size > 10_000


@pytest.mark.browser
def test_it_refreshes_the_queue_by_itself_and_asks_before_approving(live_server, community_a, gary, settings,
                                                                   output_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.GUARD_QUEUE_POLL_SECONDS = 0.5
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                      is_mobile=True, has_touch=True, locale="zh-CN")
        page = context.new_page()
        page.goto(f"{live_server.url}/guard/login/")
        page.get_by_label("手机号").fill("13900000001")
        page.get_by_label("密码").fill("password-for-tests-1")
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_text("暂无待审核人员。")).to_be_visible()

        # The city registers someone while the page is open: it shows up with nobody touching the phone.
        arrived = ResidentFactory(community=community_a, name="周八", status=Resident.Status.PENDING,
                                  valid_from=timezone.now(), valid_until=timezone.now() + dt.timedelta(days=30))
        expect(page.locator(f"#person-{arrived.pk}")).to_be_visible(timeout=10_000)
        expect(page.locator(".count")).to_contain_text("1 人待审核")
        # Dates stay on one line at phone width.
        dates = page.locator(f"#person-{arrived.pk} .date")
        assert dates.count() == 2
        for index in range(2):
            assert dates.nth(index).evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
        page.screenshot(path=str(output_dir / "1-arrived.png"), full_page=True)

        # One tap only arms the button; the person stays pending until the second tap.
        page.get_by_test_id(f"approve-{arrived.pk}").tap()
        expect(page.get_by_test_id(f"approve-{arrived.pk}")).to_have_text("再点一次确认通过")
        page.wait_for_timeout(1500)  # polls meanwhile do not reload the page from under the armed button
        arrived.refresh_from_db()
        assert arrived.status == Resident.Status.PENDING
        page.get_by_test_id(f"approve-{arrived.pk}").tap()
        expect(page.get_by_role("status")).to_contain_text("已通过 周八")
        expect(page.locator("ul.history")).to_contain_text("周八")
        page.screenshot(path=str(output_dir / "2-approved.png"), full_page=True)
        browser.close()
        connections.close_all()

    arrived.refresh_from_db()
    assert (arrived.status, arrived.reviewed_by) == (Resident.Status.ACTIVE, gary)
