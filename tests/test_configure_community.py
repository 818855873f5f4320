"""``configure_community``: an idempotent upsert for scripted onboarding, printing what changed with
secrets masked."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from communities.models import Community, MonitoringPoint, SiteCredential

ARGS = ["--city-id", "CITY-9", "--name", "新小区", "--address", "四川省成都市锦江区观音桥99号",
        "--client-id", "cid", "--client-secret", "very-secret-1", "--username", "site", "--password", "very-secret-2",
        "--point", "PP-1:东门1", "--point", "PP-2:车库:vehicle_snapshot"]


def _run(*args: str) -> str:
    out = StringIO()
    call_command("configure_community", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_community_with_credentials_and_points(db):
    output = _run(*ARGS)
    community = Community.objects.get(city_id="CITY-9")
    assert (community.district, community.street) == ("锦江区", "观音桥99号")
    credential = SiteCredential.objects.get(community=community)
    assert (credential.client_secret, credential.password) == ("very-secret-1", "very-secret-2")
    assert {(p.police_point_id, p.number, p.kind) for p in MonitoringPoint.objects.all()} == {
        ("PP-1", "东门1", "face_panel"), ("PP-2", "车库", "vehicle_snapshot")}
    assert "created community CITY-9" in output
    assert "client_secret=******" in output
    assert "very-secret" not in output
    assert "4 change(s)" in output


def test_it_is_idempotent(db):
    _run(*ARGS)
    output = _run(*ARGS)
    assert "CITY-9: unchanged" in output
    assert Community.objects.count() == 1
    assert MonitoringPoint.objects.count() == 2


def test_it_updates_only_what_changed(db):
    _run(*ARGS)
    output = _run("--city-id", "CITY-9", "--name", "改名小区", "--point", "PP-1:东门01")
    assert "name: “新小区” → “改名小区”" in output
    assert "point PP-1: “东门1” (face_panel) → “东门01” (face_panel)" in output
    assert MonitoringPoint.objects.get(police_point_id="PP-1").number == "东门01"
    # Untouched: the address, the credentials, the other point.
    community = Community.objects.get(city_id="CITY-9")
    assert community.street == "观音桥99号"
    assert SiteCredential.objects.get(community=community).password == "very-secret-2"
    assert MonitoringPoint.objects.get(police_point_id="PP-2").number == "车库"


def test_it_needs_all_four_credential_parts(db):
    with pytest.raises(CommandError, match="need all of"):
        _run("--city-id", "CITY-9", "--name", "新小区", "--address", "四川省成都市锦江区观音桥99号",
             "--client-secret", "only-this")
    assert not Community.objects.exists()


def test_it_needs_a_name_and_an_address_for_a_new_community(db):
    with pytest.raises(CommandError, match="needs --name and --address"):
        _run("--city-id", "CITY-9", "--name", "新小区")
