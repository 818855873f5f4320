"""Admin lists: ID numbers and phones masked in every list, rooms' 7-segment addresses, the point
name mismatch flag at a glance (point list, community inline, a count on the community list), and the
bulk import of provincial point names."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import NoReverseMatch, reverse

from communities.models import MonitoringPoint
from tests.factories import (
    BuildingFactory,
    GuardFactory,
    PointFactory,
    ResidentFactory,
    RoomFactory,
    make_id_card,
)

RESIDENT_ID, RESIDENT_PHONE = make_id_card(777), "13712345678"
GUARD_ID, GUARD_PHONE = make_id_card(778), "13698765432"


@pytest.fixture
def people(community_a):
    resident = ResidentFactory(community=community_a, id_card=RESIDENT_ID, phone=RESIDENT_PHONE)
    guard = GuardFactory(community=community_a, id_card=GUARD_ID, phone=GUARD_PHONE)
    return resident, guard


@pytest.fixture
def points(community_a):
    return [PointFactory(community=community_a, police_point_id="PP-1", number="东门1", provincial_name="东门1"),
            PointFactory(community=community_a, police_point_id="PP-2", number="西门1", provincial_name="西门01"),
            PointFactory(community=community_a, police_point_id="PP-3", number="车库", provincial_name="")]


def _changelists() -> list[str]:
    urls = []
    for model in admin.site._registry:
        try:
            urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        except NoReverseMatch:
            continue
    return urls


@pytest.mark.parametrize("persona", ["root", "alice"])
def test_it_masks_ids_and_phones_in_every_list(request, client, people, persona: str):
    client.force_login(request.getfixturevalue(persona))
    for url in _changelists():
        html = client.get(url).content.decode()
        for clear in (RESIDENT_ID, RESIDENT_PHONE, GUARD_ID, GUARD_PHONE):
            assert clear not in html, (url, clear)
    residents = client.get(reverse("admin:residents_resident_changelist")).content.decode()
    assert f"{RESIDENT_ID[:4]}**********{RESIDENT_ID[-4:]}" in residents
    assert "137****5678" in residents
    guards = client.get(reverse("admin:communities_guard_changelist")).content.decode()
    assert f"{GUARD_ID[:4]}**********{GUARD_ID[-4:]}" in guards
    assert "136****5432" in guards


def test_it_shows_a_rooms_7_segment_address(client, alice, community_a):
    RoomFactory(building=BuildingFactory(community=community_a, number="2"), unit="1", floor="31", number="06")
    client.force_login(alice)
    html = client.get(reverse("admin:communities_room_changelist")).content.decode()
    assert "四川省成都市锦江区观音桥55号2栋1单元31楼06号" in html


def test_it_flags_point_name_mismatches_in_the_point_list(client, alice, points):
    client.force_login(alice)
    url = reverse("admin:communities_monitoringpoint_changelist")
    html = client.get(url).content.decode()
    assert html.count('class="afxq-ok"') == 1
    assert "✘ 不一致" in html
    assert "✘ 缺少省厅点位名称" in html
    mismatched = client.get(url, {"name_match": "no"}).context["cl"].result_list
    assert {p.police_point_id for p in mismatched} == {"PP-2", "PP-3"}
    matching = client.get(url, {"name_match": "yes"}).context["cl"].result_list
    assert [p.police_point_id for p in matching] == ["PP-1"]


def test_it_flags_point_name_mismatches_in_the_community(client, alice, community_a, points):
    client.force_login(alice)
    html = client.get(reverse("admin:communities_community_change", args=[community_a.pk])).content.decode()
    assert html.count("✘ 不一致") == 1
    assert html.count("✘ 缺少省厅点位名称") == 1
    listing = client.get(reverse("admin:communities_community_changelist"))
    community = listing.context["cl"].result_list[0]
    assert (community.point_count, community.mismatch_count) == (3, 2)
    mismatch_link = (f'{reverse("admin:communities_monitoringpoint_changelist")}'
                     f"?community__id__exact={community_a.pk}&amp;name_match=no")
    assert mismatch_link in listing.content.decode()


def test_it_imports_provincial_names_in_bulk(client, alice, community_a, points):
    client.force_login(alice)
    url = reverse("admin:communities_monitoringpoint_import_names")
    page = client.get(url)
    assert list(page.context["form"].fields["community"].queryset) == [community_a]
    response = client.post(url, {"community": community_a.pk, "lines": "PP-2,西门1\nPP-3\t车库口\nPP-404,无\n"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?community__id__exact={community_a.pk}")
    names = dict(MonitoringPoint.objects.values_list("police_point_id", "provincial_name"))
    assert names == {"PP-1": "东门1", "PP-2": "西门1", "PP-3": "车库口"}
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "已保存 2 个省厅点位名称。" in messages
    assert "未知的 policePointId：PP-404" in messages
    assert "仍与点位编号不一致：车库 ≠ 车库口" in messages


def test_it_imports_nothing_when_a_line_is_malformed(client, alice, community_a, points):
    client.force_login(alice)
    url = reverse("admin:communities_monitoringpoint_import_names")
    response = client.post(url, {"community": community_a.pk, "lines": "PP-2,西门1\nthis line has no name\n"})
    assert response.status_code == 200
    assert "第 2 行：格式应为“policePointId,点位名称”" in [str(m) for m in get_messages(response.wsgi_request)]
    assert MonitoringPoint.objects.get(police_point_id="PP-2").provincial_name == "西门01"


def test_it_refuses_to_import_names_into_another_community(client, alice, community_b):
    theirs = PointFactory(community=community_b, police_point_id="PP-B", number="北门", provincial_name="北门")
    client.force_login(alice)
    url = reverse("admin:communities_monitoringpoint_import_names")
    response = client.post(url, {"community": community_b.pk, "lines": "PP-B,改掉\n"})
    assert response.status_code == 200
    assert "community" in response.context["form"].errors
    theirs.refresh_from_db()
    assert theirs.provincial_name == "北门"


def test_it_finds_a_room_by_its_7_segment_address(client, alice, community_a, community_b):
    wanted = RoomFactory(building=BuildingFactory(community=community_a, number="2"), unit="1", floor="31", number="06")
    RoomFactory(building=wanted.building, unit="1", floor="31", number="07")
    RoomFactory(building=BuildingFactory(community=community_b, number="2"), unit="1", floor="31", number="06")
    client.force_login(alice)
    url = reverse("admin:communities_room_changelist")
    found = client.get(url, {"q": "四川省成都市锦江区观音桥55号2栋1单元31层０６号"}).context["cl"].result_list
    assert [room.pk for room in found] == [wanted.pk]
    assert client.get(url, {"q": "四川省成都市青羊区草市街1号2栋1单元31楼06号"}).context["cl"].result_list.count() == 0
    assert client.get(url, {"q": "2"}).context["cl"].result_list.count() == 2  # plain search still works


def test_it_answers_a_forged_action_selection_without_an_error(client, alice, community_a):
    from django.urls import reverse

    client.force_login(alice)
    response = client.post(reverse("admin:communities_building_changelist"),
                           {"action": "delete_selected", "_selected_action": ["x"]}, follow=True)
    assert response.status_code == 200
    assert "没有任何条目被更改" in response.content.decode()
