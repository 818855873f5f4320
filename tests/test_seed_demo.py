"""``seed_demo``: the demo community ``make run`` shows, created once."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client

from communities.management.commands.seed_demo import DEMO_CITY_ID, DEMO_PASSWORDS
from communities.models import Community, Room


def test_it_seeds_the_demo_once(db):
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "already present" in out.getvalue()
    community = Community.objects.get(city_id=DEMO_CITY_ID)
    assert Community.objects.count() == 1
    assert community.buildings.count() == 2
    assert Room.objects.filter(building__community=community).count() == 48
    assert community.points.count() == 3
    # The demo shows both a matching point and mismatches (a differing and a missing provincial name).
    assert sorted(p.name_matches for p in community.points.all()) == [False, False, True]
    assert community.guards.get().user.username == "13900000000"


def test_it_lets_the_demo_staff_log_in_and_see_the_demo_in_chinese(db):
    call_command("seed_demo", stdout=StringIO())
    client = Client()
    assert client.login(username="staff", password=DEMO_PASSWORDS["staff"])
    html = client.get("/admin/communities/community/").content.decode()
    assert "锦江区观音桥演示小区" in html
    assert "选择 小区 来修改" in html
    assert client.login(username="admin", password=DEMO_PASSWORDS["admin"])
