"""Guards in the admin: each is a login with its phone as the username, limited to its community;
removing a guard keeps its login (deactivated, renamed) so its reviews keep their author and the
phone number can be given to a new guard."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from communities.models import Guard
from residents.models import ResidentChange
from tests.factories import ResidentFactory, make_id_card

PASSWORD = "guard-pass-2026-x"


def _add_guard(client: Client, community, phone: str, id_card: str):
    return client.post(reverse("admin:communities_guard_add"), {
        "community": community.pk, "name": "门卫小李", "phone": phone, "id_card": id_card, "password": PASSWORD})


def test_it_creates_a_guard_login_with_the_phone_as_username(client, alice, community_a):
    client.force_login(alice)
    response = _add_guard(client, community_a, "139 0000 1234", make_id_card(41))
    assert response.status_code == 302
    guard = Guard.objects.get(phone="13900001234")
    assert (guard.user.username, guard.user.is_staff, guard.community) == ("13900001234", False, community_a)
    assert Client().login(username="13900001234", password=PASSWORD)


def test_it_refuses_a_second_login_with_the_same_phone(client, alice, gary, community_a):
    client.force_login(alice)
    response = _add_guard(client, community_a, gary.username, make_id_card(42))
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert Guard.objects.count() == 1


def test_it_keeps_a_removed_guards_login_for_history_and_frees_the_phone(client, alice, gary, community_a):
    guard = gary.guard
    resident = ResidentFactory(community=community_a)
    change = ResidentChange.objects.create(resident=resident, actor=gary, from_status="pending", to_status="active")
    phone = guard.phone
    client.force_login(alice)
    response = client.post(reverse("admin:communities_guard_delete", args=[guard.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Guard.objects.filter(pk=guard.pk).exists()
    gary.refresh_from_db()
    assert (gary.is_active, gary.username) == (False, f"removed-guard-{gary.pk}")
    assert not gary.has_usable_password()
    change.refresh_from_db()
    assert change.actor_id == gary.pk  # the review keeps its author
    assert _add_guard(client, community_a, phone, make_id_card(43)).status_code == 302
    assert get_user_model().objects.get(username=phone).guard.community == community_a


def test_it_removes_guards_in_bulk_the_same_way(client, alice, gary, community_a):
    client.force_login(alice)
    client.post(reverse("admin:communities_guard_changelist"), {
        "action": "delete_selected", "_selected_action": [gary.guard.pk], "post": "yes"})
    gary.refresh_from_db()
    assert not Guard.objects.exists()
    assert not gary.is_active
