"""Generating a building's rooms in the admin: units × floors × numbers in one form, rooms that exist
are kept, bad ranges are refused naming the field, nothing is half-created."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from communities.models import Room
from communities.services import RoomRangeError, generate_rooms, parse_segment_range
from tests.factories import BuildingFactory, RoomFactory


def _url(building) -> str:
    return reverse("admin:communities_building_generate_rooms", args=[building.pk])


@pytest.mark.parametrize(("text", "values"), [
    ("1-3", ["1", "2", "3"]), ("01-04", ["01", "02", "03", "04"]), ("1,3,5-6", ["1", "3", "5", "6"]),
    ("B1", ["B1"]), ("１－２", ["1", "2"]), ("2,1-2", ["2", "1"]), ("-1,1-2", ["-1", "1", "2"]),
])
def test_it_reads_ranges(text: str, values: list[str]):
    assert parse_segment_range(text) == values


@pytest.mark.parametrize("text", ["3-1", "a-c", ",", ""])
def test_it_refuses_bad_ranges(text: str):
    with pytest.raises(RoomRangeError):
        parse_segment_range(text)


def test_it_generates_the_rooms_of_a_building_keeping_existing_ones(client, alice, community_a):
    building = BuildingFactory(community=community_a, number="3")
    kept = RoomFactory(building=building, unit="1", floor="2", number="01", needs_confirmation=True)
    client.force_login(alice)
    change_page = client.get(reverse("admin:communities_building_change", args=[building.pk])).content.decode()
    assert _url(building) in change_page and "生成房间" in change_page
    response = client.post(_url(building), {"units": "1-2", "floors": "1-3", "numbers": "01-02"})
    assert response.status_code == 302
    assert building.rooms.count() == 2 * 3 * 2
    kept.refresh_from_db()
    assert kept.needs_confirmation  # an existing room is left as it was
    room = building.rooms.get(unit="2", floor="3", number="02")
    assert room.seven_segment_address == "四川省成都市锦江区观音桥55号3栋2单元3楼02号"
    # Again: nothing new.
    client.post(_url(building), {"units": "1-2", "floors": "1-3", "numbers": "01-02"})
    assert building.rooms.count() == 12


def test_it_refuses_a_bad_range_naming_the_field_and_creates_nothing(client, alice, community_a):
    building = BuildingFactory(community=community_a)
    client.force_login(alice)
    with translation.override("zh-hans"):
        response = client.post(_url(building), {"units": "1", "floors": "30-1", "numbers": "01"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["floors"]
    assert "“30-1”不是形如 1-6 的范围" in response.content.decode()
    assert not Room.objects.exists()


def test_it_refuses_too_many_rooms_at_once(community_a):
    building = BuildingFactory(community=community_a)
    with pytest.raises(RoomRangeError, match="too many"), translation.override("en"):
        generate_rooms(building, units=["1"], floors=[str(n) for n in range(100)],
                       numbers=[f"{n:02d}" for n in range(21)], acting_user=None)
    assert not Room.objects.exists()
