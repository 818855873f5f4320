"""Terminals in the admin and from the shell: scoped to the staff's communities, the password write-only, the
people not deletable, the test-connection button, the refused people with their reason and a retry;
add_terminal idempotent with the password masked."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from terminals import reconcile
from terminals.models import Terminal, TerminalMember
from terminals.people import employee_no_of
from terminals.vendors.base import TerminalError
from tests.clients import logged_in
from tests.factories import PointFactory
from tests.terminal_fake import fake
from tests.terminal_helpers import make_terminal, resident_with_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def terminal(community_a, fake_vendor):
    return make_terminal(community_a)


def test_it_shows_charlie_no_terminal_of_alices_community(terminal, alice, charlie):
    url = reverse("admin:terminals_terminal_change", args=[terminal.pk])
    assert logged_in(alice).get(url).status_code == 200
    assert logged_in(charlie).get(url).status_code in (302, 403, 404)
    assert terminal.base_url not in logged_in(charlie).get(reverse("admin:terminals_terminal_changelist")).content.decode()


def test_it_never_shows_the_password(terminal, alice):
    html = logged_in(alice).get(reverse("admin:terminals_terminal_change", args=[terminal.pk])).content.decode()
    assert "pw-1234" not in html and terminal.password == "pw-1234"


def test_it_shows_the_counts_and_the_refusal_with_its_reason(terminal, community_a, alice):
    ok, refused = resident_with_photo(community_a, seed=1), resident_with_photo(community_a, seed=2)
    fake(terminal.base_url).refuse[employee_no_of(refused.pk)] = TerminalError(
        "faceLibraryFull", permanent=True, code="library_full")
    reconcile.reconcile_terminal(terminal.pk)
    client = logged_in(alice)
    client.cookies["django_language"] = "zh-hans"
    listing = client.get(reverse("admin:terminals_terminal_changelist")).content.decode()
    assert "终端上 1 / 2 人，1 人被拒绝" in listing
    page = client.get(reverse("admin:terminals_terminal_change", args=[terminal.pk])).content.decode()
    assert "终端的人脸库或人员名单已满（终端：faceLibraryFull）" in page
    assert ok.name not in page  # converged people are not listed


def test_it_lets_staff_retry_a_refusal_and_not_delete_people(terminal, community_a, alice):
    resident = resident_with_photo(community_a)
    held = fake(terminal.base_url)
    held.refuse[employee_no_of(resident.pk)] = TerminalError("bad", permanent=True, code="face_quality")
    reconcile.reconcile_terminal(terminal.pk)
    member = TerminalMember.objects.get()
    client = logged_in(alice)
    assert client.post(reverse("admin:terminals_terminalmember_delete", args=[member.pk])).status_code == 403
    changelist = reverse("admin:terminals_terminalmember_changelist")
    client.post(changelist, {"action": "retry", "_selected_action": [member.pk]})
    member.refresh_from_db()
    assert member.status == TerminalMember.Status.PENDING and member.refusal_code == ""


def test_it_tests_the_connection(terminal, alice):
    url = reverse("admin:terminals_terminal_test_connection", args=[terminal.pk])
    client = logged_in(alice)
    client.cookies["django_language"] = "zh-hans"
    page = client.post(url, follow=True).content.decode()
    assert "连接成功：型号 DS-FAKE，固件 V1.0" in page
    fake(terminal.base_url).offline = True
    assert "无法连接终端：connection refused" in client.post(url, follow=True).content.decode()


def test_add_terminal_is_idempotent_and_masks_the_password(community_a, fake_vendor):
    point = PointFactory(community=community_a)
    args = ["--community", community_a.city_id, "--point", point.police_point_id, "--vendor", "fake",
            "--url", "http://127.0.0.1:9/t", "--username", "admin", "--password", "s3cret-pw"]
    out = io.StringIO()
    call_command("add_terminal", *args, stdout=out)
    assert "已创建终端" in out.getvalue() and "s3cret-pw" not in out.getvalue() and "********" in out.getvalue()
    out = io.StringIO()
    call_command("add_terminal", *args, stdout=out)
    assert "无变化" in out.getvalue()
    call_command("add_terminal", *args[:-1], "other-pw", "--door", "2", stdout=(out := io.StringIO()))
    assert "已更新" in out.getvalue() and "door, password" in out.getvalue() and "other-pw" not in out.getvalue()
    terminal = Terminal.objects.get()
    assert (terminal.password, terminal.door, terminal.device.point) == ("other-pw", 2, point)


@pytest.mark.parametrize(("change", "message"), [
    ({"--vendor": "nope"}, "未知厂商"), ({"--url": "ftp://x"}, "不是 http"),
    ({"--point": "PP-missing"}, "没有 policePointId"), ({"--door": "0"}, "--door")])
def test_add_terminal_names_what_is_wrong(community_a, fake_vendor, change, message):
    point = PointFactory(community=community_a)
    options = {"--community": community_a.city_id, "--point": point.police_point_id, "--vendor": "fake",
               "--url": "http://127.0.0.1:9/t", "--username": "admin", "--password": "pw", **change}
    with pytest.raises(CommandError, match=message):
        call_command("add_terminal", *[part for pair in options.items() for part in pair], stdout=io.StringIO())


def test_it_shows_a_residents_terminal_status_on_their_page(terminal, community_a, alice):
    resident = resident_with_photo(community_a)
    fake(terminal.base_url).refuse[employee_no_of(resident.pk)] = TerminalError(
        "faceLibraryFull", permanent=True, code="library_full")
    reconcile.reconcile_terminal(terminal.pk)
    client = logged_in(alice)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("admin:residents_resident_change", args=[resident.pk])).content.decode()
    assert f"{terminal.point.number}：被终端拒绝（终端的人脸库或人员名单已满（终端：faceLibraryFull））" in page


def test_it_shows_a_terminals_health_on_the_device_list(terminal, alice):
    Terminal.objects.filter(pk=terminal.pk).update(online=True, firmware="V1.0")
    client = logged_in(alice)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("admin:devices_device_changelist")).content.decode()
    assert "在线 · V1.0 · 尚无事件" in page
