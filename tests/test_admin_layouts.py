"""Admin layouts (issue 14): a building with many rooms does not list them all on its page; the point
name check's header does not break one character a line; the community list has fewer columns; saving a
point whose number differs from its provincial name warns; a stored secret shows that it is set."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from communities.admin import ROOM_INLINE_LIMIT
from communities.models import MonitoringPoint, ProvincialCredential, Room
from tests.admin_forms import admin_post_data, inline_prefix
from tests.factories import BuildingFactory, PointFactory, RoomFactory, SiteCredentialFactory


@pytest.fixture
def staff(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_it_links_a_large_buildings_rooms_instead_of_listing_them(staff, community_a):
    building = BuildingFactory(community=community_a, number="9")
    Room.objects.bulk_create([Room(building=building, unit="1", floor=str(f), number=f"{n:02d}")
                              for f in range(1, 31) for n in range(1, 5)])
    url = reverse("admin:communities_building_change", args=[building.pk])
    page = staff.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert not any(i.formset.model is Room for i in page.context["inline_admin_formsets"])
    rooms_url = reverse("admin:communities_room_changelist") + f"?building__id__exact={building.pk}"
    assert 'id="rooms-elsewhere"' in html and rooms_url in html
    assert "本楼栋有 120 间房屋" in html
    listed = staff.get(rooms_url)
    assert listed.status_code == 200 and listed.context["cl"].result_count == 120
    # The page still saves without the rooms' formset.
    data = admin_post_data(page)
    data["number"] = "9A"
    assert staff.post(url, data).status_code == 302
    assert Room.objects.filter(building=building).count() == 120


def test_it_lists_a_small_buildings_rooms_inline(staff, community_a):
    building = BuildingFactory(community=community_a, number="3")
    for n in range(ROOM_INLINE_LIMIT):
        RoomFactory(building=building, floor="1", number=f"{n:02d}")
    page = staff.get(reverse("admin:communities_building_change", args=[building.pk]))
    assert any(i.formset.model is Room for i in page.context["inline_admin_formsets"])
    assert 'id="rooms-elsewhere"' not in page.content.decode()


def test_it_keeps_the_point_check_header_on_one_line(staff, community_a):
    PointFactory(community=community_a)
    html = staff.get(reverse("admin:communities_monitoringpoint_changelist")).content.decode()
    assert "th.column-name_check" in html and "white-space: nowrap" in html
    assert 'class="sortable column-name_check' in html or 'class="column-name_check' in html


def test_it_shows_fewer_columns_in_the_community_list(staff, community_a):
    listing = staff.get(reverse("admin:communities_community_changelist"))
    html = listing.content.decode()
    assert "column-category" not in html and "column-level" not in html
    assert "column-point_mismatches" in html and "column-standard_address" in html


def test_it_warns_when_a_saved_point_number_differs_from_the_provincial_name(staff, community_a):
    point = PointFactory(community=community_a, number="东门01", provincial_name="东门01")
    url = reverse("admin:communities_monitoringpoint_change", args=[point.pk])
    data = admin_post_data(staff.get(url))
    data["number"] = "东门1"
    response = staff.post(url, data, follow=True)
    assert response.redirect_chain
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert any("东门1 ≠ 东门01" in w for w in warnings), warnings
    data["number"] = "东门01"
    again = staff.post(url, data, follow=True)
    assert not [m for m in again.context["messages"] if m.level_tag == "warning"]


def test_it_warns_of_a_mismatched_point_saved_on_the_community_page(staff, community_a):
    point = PointFactory(community=community_a, number="西门", provincial_name="西门")
    url = reverse("admin:communities_community_change", args=[community_a.pk])
    page = staff.get(url)
    data = admin_post_data(page)
    prefix = inline_prefix(page, MonitoringPoint)
    row = next(i for i in range(10) if str(data.get(f"{prefix}-{i}-id")) == str(point.pk))
    data[f"{prefix}-{row}-number"] = "西门02"
    response = staff.post(url, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert any("西门02 ≠ 西门" in w for w in warnings), warnings


def test_it_says_a_stored_secret_is_set_without_showing_it(staff, community_a):
    SiteCredentialFactory(community=community_a, client_secret="clear-secret-1", password="clear-pw-1")
    ProvincialCredential.objects.create(community=community_a, login="prov", password="clear-pw-2", auth_info="")
    html = staff.get(reverse("admin:communities_community_change", args=[community_a.pk])).content.decode()
    assert "clear-secret-1" not in html and "clear-pw-1" not in html and "clear-pw-2" not in html
    assert html.count("已设置：加密保存") == 3  # client secret, site password, provincial password
    assert html.count('placeholder="已设置（留空则保持不变）"') == 3
    assert "未设置。" in html  # the provincial auth info left empty
