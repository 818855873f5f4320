"""A person's change page in the admin: the ID number and phone are shown in clear only to users with
the ``residents.view_pii`` permission (as for exports); others see them masked, and leaving the inputs
empty keeps the stored values."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.urls import reverse

from residents.models import Resident
from tests.admin_forms import admin_post_data
from tests.factories import ResidentFactory, make_id_card

ID, PHONE = make_id_card(901), "13511112222"


def _change_url(resident: Resident) -> str:
    return reverse("admin:residents_resident_change", args=[resident.pk])


def test_it_masks_the_change_page_without_the_permission(client, alice, community_a):
    resident = ResidentFactory(community=community_a, id_card=ID, phone=PHONE)
    client.force_login(alice)
    html = client.get(_change_url(resident)).content.decode()
    assert ID not in html and PHONE not in html
    assert f"{ID[:4]}**********{ID[-4:]}" in html and "135****2222" in html


def test_it_keeps_the_stored_values_when_the_masked_inputs_stay_empty(client, alice, community_a):
    resident = ResidentFactory(community=community_a, id_card=ID, phone=PHONE, name="王五")
    client.force_login(alice)
    page = client.get(_change_url(resident))
    data = admin_post_data(page)
    assert (data["id_card"], data["phone"]) == ("", "")
    data["name"] = "王五五"
    response = client.post(_change_url(resident), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    resident.refresh_from_db()
    assert (resident.name, resident.id_card, resident.phone) == ("王五五", ID, PHONE)


def test_it_still_validates_a_replacement(client, alice, community_a):
    resident = ResidentFactory(community=community_a, id_card=ID, phone=PHONE)
    client.force_login(alice)
    data = admin_post_data(client.get(_change_url(resident)))
    data["id_card"] = ID[:17] + ("0" if ID[17] != "0" else "1")
    response = client.post(_change_url(resident), data)
    assert response.status_code == 200
    assert "id_card" in response.context["adminform"].form.errors
    resident.refresh_from_db()
    assert resident.id_card == ID


def test_it_shows_them_in_clear_with_the_permission(client, alice, community_a):
    resident = ResidentFactory(community=community_a, id_card=ID, phone=PHONE)
    alice.user_permissions.add(Permission.objects.get(codename="view_pii"))
    client.force_login(alice)
    html = client.get(_change_url(resident)).content.decode()
    assert ID in html and PHONE in html
