"""Finding a person in the residents admin (issue 14): by phone (its keyed hash: phones are encrypted), by room
("1栋1单元3楼01号", or its beginning) and by building/unit/floor filters; the room on a person's page is picked
by autocomplete, scoped to the user's communities."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from residents.models import Resident, phone_lookup_hash
from tests.clients import logged_in
from tests.factories import BuildingFactory, ResidentFactory, RoomFactory

CHANGELIST = "admin:residents_resident_changelist"


@pytest.fixture
def people(community_a, community_b) -> dict[str, Resident]:
    one = BuildingFactory(community=community_a, number="1")
    two = BuildingFactory(community=community_a, number="2")
    other = BuildingFactory(community=community_b, number="1")
    return {
        "wang": ResidentFactory(community=community_a, name="王五", phone="13812345678",
                                room=RoomFactory(building=one, unit="1", floor="3", number="01")),
        "zhao": ResidentFactory(community=community_a, name="赵六", phone="13900001111",
                                room=RoomFactory(building=one, unit="2", floor="5", number="02")),
        "li": ResidentFactory(community=community_a, name="李四", phone="13700002222",
                              room=RoomFactory(building=two, unit="1", floor="3", number="01")),
        "stranger": ResidentFactory(community=community_b, name="外人", phone="13812345678",
                                    room=RoomFactory(building=other, unit="1", floor="3", number="01")),
    }


def _found(client: Client, **params: str) -> set[str]:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return {r.name for r in response.context["cl"].result_list}


def test_it_finds_a_person_by_phone_however_it_is_typed(alice, people):
    client = logged_in(alice)
    for typed in ("13812345678", "138 1234 5678", "+86 138-1234-5678", "１３８１２３４５６７８", "(138)12345678"):
        assert _found(client, q=typed) == {"王五"}, typed  # never the other community's person with that phone
    assert _found(client, q="1381234567") == set()  # a phone is found whole, not by a part
    assert people["wang"].phone_hash == phone_lookup_hash("+8613812345678")


def test_it_finds_people_by_room(alice, people):
    client = logged_in(alice)
    assert _found(client, q="1栋1单元3楼01号") == {"王五"}
    assert _found(client, q="1栋") == {"王五", "赵六"}
    assert _found(client, q="1栋2单元") == {"赵六"}
    assert _found(client, q="１栋１单元３层０１号") == {"王五"}


def test_it_filters_by_building_unit_and_floor(alice, people):
    client = logged_in(alice)
    building = people["wang"].room.building
    assert _found(client, room__building__id__exact=str(building.pk)) == {"王五", "赵六"}
    assert _found(client, room__unit="2") == {"赵六"}
    assert _found(client, room__floor="3") == {"王五", "李四"}
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "青羊小区" not in html


def test_it_picks_the_room_by_autocomplete_scoped_to_the_users_communities(alice, people):
    client = logged_in(alice)
    page = client.get(reverse("admin:residents_resident_change", args=[people["wang"].pk])).content.decode()
    assert 'data-field-name="room"' in page and "admin-autocomplete" in page
    assert "2栋1单元3楼01号" not in page  # the other rooms are not listed in the page
    answer = client.get(reverse("admin:autocomplete"), {
        "app_label": "residents", "model_name": "resident", "field_name": "room", "term": "1栋1单元3楼01号"})
    assert answer.status_code == 200
    assert [int(r["id"]) for r in answer.json()["results"]] == [people["wang"].room_id]
    everything = client.get(reverse("admin:autocomplete"), {
        "app_label": "residents", "model_name": "resident", "field_name": "room", "term": ""}).json()
    assert people["stranger"].room_id not in {int(r["id"]) for r in everything["results"]}
