"""Giving a colleague access in one step (issue 14): a platform administrator creates a property-staff login
with its password and communities on one page; staff do not manage logins (SuperuserOnlyMixin), so the page
is refused to them."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from communities import tenancy
from communities.models import Membership
from tests.clients import logged_in

URL = "admin:communities_membership_add_staff"
PASSWORD = "Jinjiang-staff-2027"


def test_it_creates_a_staff_login_with_its_communities_in_one_step(root, community_a, community_b):
    client = logged_in(root)
    page = client.get(reverse(URL))
    assert page.status_code == 200
    html = page.content.decode()
    assert community_a.name in html and community_b.name in html
    assert reverse(URL) in client.get(reverse("admin:communities_membership_changelist")).content.decode()
    response = client.post(reverse(URL), {"username": "dave", "first_name": "王经理", "password1": PASSWORD,
                                          "password2": PASSWORD, "communities": [community_a.pk]})
    assert response.status_code == 302
    dave = get_user_model().objects.get(username="dave")
    assert dave.is_staff and not dave.is_superuser and dave.is_active and dave.first_name == "王经理"
    assert dave.check_password(PASSWORD)
    assert list(Membership.objects.filter(user=dave).values_list("community", flat=True)) == [community_a.pk]
    assert list(tenancy.managed_communities(dave)) == [community_a]
    assert LogEntry.objects.filter(user=root, object_id=str(dave.pk)).exists()
    assert Client().login(username="dave", password=PASSWORD)


def test_it_refuses_a_bad_form_and_creates_nothing(root, alice, community_a):
    client = logged_in(root)
    users = get_user_model().objects.count()
    for data in (
        {"username": "eve", "password1": PASSWORD, "password2": PASSWORD},  # no community
        {"username": "eve", "password1": PASSWORD, "password2": PASSWORD + "x", "communities": [community_a.pk]},
        {"username": "eve", "password1": "123", "password2": "123", "communities": [community_a.pk]},
        {"username": "ALICE", "password1": PASSWORD, "password2": PASSWORD, "communities": [community_a.pk]},
    ):
        response = client.post(reverse(URL), data)
        assert response.status_code == 200, data
        assert response.context["form"].errors, data
    assert get_user_model().objects.count() == users
    assert not Membership.objects.filter(user__username="eve").exists()


def test_it_refuses_the_page_to_staff(alice, community_a):
    client = logged_in(alice)
    assert client.get(reverse(URL)).status_code == 403
    response = client.post(reverse(URL), {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD,
                                          "communities": [community_a.pk]})
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="mallory").exists()
