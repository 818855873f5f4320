"""End to end in headless Chromium (Debian's chromium, Playwright's Python client): a property-staff user
logs in to the real admin, creates a building with rooms and a point, and sees the 7-segment address
and the point-mismatch flag, in Chinese. Screenshots go to the test's output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from communities.models import MonitoringPoint, Room

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.mark.browser
def test_it_lets_staff_build_rooms_and_points_and_see_addresses_and_mismatches(
        live_server, alice, community_a, community_b, output_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{live_server.url}/admin/")
        page.locator("#id_username").fill("alice")
        page.locator("#id_password").fill("password-for-tests-1")
        page.screenshot(path=str(output_dir / "1-login.png"))
        page.locator("input[type=submit]").click()
        expect(page.locator("#site-name")).to_contain_text("智慧安防社区")

        # A building with two rooms (rooms are an inline under the building).
        page.goto(f"{live_server.url}/admin/communities/building/add/")
        options = page.locator("#id_community option").all_inner_texts()
        assert not any("青羊小区" in option for option in options)  # community B is not offered
        page.locator("#id_community").select_option(str(community_a.pk))
        page.locator("#id_number").fill("2")
        page.locator("#id_rooms-0-unit").fill("1")
        page.locator("#id_rooms-0-floor").fill("31")
        page.locator("#id_rooms-0-number").fill("06")
        page.locator("#rooms-group .add-row a").click()
        page.locator("#id_rooms-1-unit").fill("1")
        page.locator("#id_rooms-1-floor").fill("31")
        page.locator("#id_rooms-1-number").fill("07")
        page.screenshot(path=str(output_dir / "2-building-form.png"), full_page=True)
        page.locator("input[name=_continue]").click()
        expect(page.locator("ul.messagelist")).to_contain_text("成功")
        # The inline shows each room's 7-segment address once saved.
        expect(page.locator("#rooms-group")).to_contain_text("四川省成都市锦江区观音桥55号2栋1单元31楼06号")
        page.screenshot(path=str(output_dir / "3-building-saved.png"), full_page=True)

        # The rest of the building in one go: units 1-2, floors 30-31, rooms 06-07 (the two above are kept).
        page.get_by_role("link", name="生成房间").click()
        page.locator("#id_units").fill("1-2")
        page.locator("#id_floors").fill("30-31")
        page.locator("#id_numbers").fill("06-07")
        page.screenshot(path=str(output_dir / "3b-generate-rooms.png"), full_page=True)
        page.locator("#generate-rooms input[type=submit]").click()
        expect(page.locator("ul.messagelist")).to_contain_text("已创建 6 个房间。")

        page.goto(f"{live_server.url}/admin/communities/room/")
        expect(page.locator("#result_list")).to_contain_text("四川省成都市锦江区观音桥55号2栋1单元31楼07号")
        page.screenshot(path=str(output_dir / "4-room-list.png"), full_page=True)

        # A point whose number differs from the provincial name by one character.
        page.goto(f"{live_server.url}/admin/communities/monitoringpoint/add/")
        page.locator("#id_community").select_option(str(community_a.pk))
        page.locator("#id_police_point_id").fill("PP-BROWSER-1")
        page.locator("#id_number").fill("观音桥55号东门1")
        page.locator("#id_provincial_name").fill("观音桥55号东门01")
        page.locator("input[name=_save]").click()
        row = page.locator("#result_list tr", has_text="PP-BROWSER-1")
        expect(row.locator(".afxq-bad")).to_contain_text("不一致")
        page.screenshot(path=str(output_dir / "5-point-mismatch.png"), full_page=True)

        # The community list counts the mismatch; its link filters the point list to it.
        page.goto(f"{live_server.url}/admin/communities/community/")
        link = page.locator("#result_list a:has(.afxq-bad)")
        expect(link).to_have_text("✘ 1")
        expect(page.locator("body")).not_to_contain_text("青羊小区")
        page.screenshot(path=str(output_dir / "6-community-list.png"), full_page=True)
        link.click()
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        page.screenshot(path=str(output_dir / "7-mismatch-filter.png"), full_page=True)
        browser.close()

    assert Room.objects.filter(building__community=community_a, building__number="2").count() == 8
    assert not MonitoringPoint.objects.get(police_point_id="PP-BROWSER-1").name_matches
