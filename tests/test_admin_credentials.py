"""Credentials in the admin: secrets are stored encrypted, never rendered back (in any admin page),
can be replaced, and an empty input keeps the current value."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse

from communities.models import ProvincialCredential, SiteCredential, SupportContact
from tests.admin_forms import admin_post_data, inline_prefix
from tests.factories import SiteCredentialFactory

SECRETS = ["clear-client-secret-7f3a", "clear-site-password-91bd", "clear-prov-password-c2e0", "clear-auth-info-55aa"]


@pytest.fixture
def credentials(community_a):
    site = SiteCredentialFactory(community=community_a, client_id="client-a", username="site-a",
                                 client_secret=SECRETS[0], password=SECRETS[1])
    provincial = ProvincialCredential.objects.create(community=community_a, login="prov-a", password=SECRETS[2],
                                                     auth_info=SECRETS[3])
    return site, provincial


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _pages(community) -> list[str]:
    """Every changelist of the admin plus the community's change, history and delete pages."""
    pages = []
    for model in admin.site._registry:
        try:
            pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        except NoReverseMatch:
            continue
    for view in ("change", "history", "delete"):
        pages.append(reverse(f"admin:communities_community_{view}", args=[community.pk]))
    return pages


@pytest.mark.parametrize("persona", ["root", "alice"])
def test_it_never_renders_a_secret(request, credentials, community_a, persona: str):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    for page in _pages(community_a):
        response = client.get(page)
        html = response.content.decode()
        for secret in SECRETS:
            assert secret not in html, (page, secret)
    # The form after a failed save does not echo them either.
    response = client.get(_change_url(community_a))
    data = admin_post_data(response)
    data[f"{inline_prefix(response, SiteCredential)}-0-client_secret"] = "brand-new-secret-to-not-echo"
    data["name"] = ""  # makes the form invalid
    html = client.post(_change_url(community_a), data).content.decode()
    assert "brand-new-secret-to-not-echo" not in html
    assert not any(secret in html for secret in SECRETS)


def test_it_stores_secrets_encrypted(credentials):
    site, provincial = credentials
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret, password FROM communities_sitecredential WHERE id = %s", [site.pk])
        raw = " ".join(cursor.fetchone())
        cursor.execute("SELECT password, auth_info FROM communities_provincialcredential WHERE id = %s",
                       [provincial.pk])
        raw += " ".join(cursor.fetchone())
    assert not any(secret in raw for secret in SECRETS)
    assert SiteCredential.objects.get(pk=site.pk).client_secret == SECRETS[0]


def test_it_replaces_a_secret_and_keeps_the_others_when_left_empty(client, alice, credentials, community_a):
    client.force_login(alice)
    response = client.get(_change_url(community_a))
    data = admin_post_data(response)
    site_prefix = inline_prefix(response, SiteCredential)
    prov_prefix = inline_prefix(response, ProvincialCredential)
    assert data[f"{site_prefix}-0-client_secret"] == ""  # the form never carries the stored value
    data[f"{site_prefix}-0-client_secret"] = "replaced-client-secret"
    data[f"{prov_prefix}-0-auth_info"] = "replaced-auth-info"
    response = client.post(_change_url(community_a), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    site = SiteCredential.objects.get(community=community_a)
    provincial = ProvincialCredential.objects.get(community=community_a)
    assert (site.client_secret, site.password) == ("replaced-client-secret", SECRETS[1])
    assert (provincial.password, provincial.auth_info) == (SECRETS[2], "replaced-auth-info")
    assert (site.client_id, site.username) == ("client-a", "site-a")


def test_it_requires_the_secrets_of_a_new_credential(client, alice, community_a):
    client.force_login(alice)
    response = client.get(_change_url(community_a))
    data = admin_post_data(response)
    prefix = inline_prefix(response, SiteCredential)
    data.update({f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-0-client_id": "new-client",
                 f"{prefix}-0-username": "new-user", f"{prefix}-0-client_secret": "", f"{prefix}-0-password": ""})
    response = client.post(_change_url(community_a), data)
    assert response.status_code == 200
    formset = next(i.formset for i in response.context["inline_admin_formsets"] if i.formset.prefix == prefix)
    assert {"client_secret", "password"} <= set(formset.forms[0].errors)
    assert not SiteCredential.objects.filter(community=community_a).exists()


def test_it_ignores_a_tampered_inline_row_of_another_community(client, alice, community_a, community_b):
    mine = SupportContact.objects.create(community=community_a, name="张工", phone="13800000001")
    theirs = SupportContact.objects.create(community=community_b, name="李工", phone="13800000002")
    client.force_login(alice)
    response = client.get(_change_url(community_a))
    data = admin_post_data(response)
    prefix = inline_prefix(response, SupportContact)
    assert data[f"{prefix}-0-id"] == mine.pk
    data[f"{prefix}-0-id"] = theirs.pk
    data[f"{prefix}-0-name"] = "被改了"
    client.post(_change_url(community_a), data)
    theirs.refresh_from_db()
    assert (theirs.name, theirs.community_id) == ("李工", community_b.pk)


def test_it_leaves_integration_settings_to_platform_administrators(client, alice, root, community_a):
    """The communityId and the URLs our workers post to are not for property staff to change."""
    url = _change_url(community_a)
    client.force_login(alice)
    page = client.get(url)
    form = page.context["adminform"].form
    assert {"city_id", "push_address", "registration_callback_url", "uploads_halted_reason"}.isdisjoint(form.fields)
    data = admin_post_data(page)
    data.update({"city_id": "CITY-HIJACK", "registration_callback_url": "http://127.0.0.1:6379/",
                 "push_address": "http://10.0.0.1/", "name": "锦江花园二期"})
    assert client.post(url, data).status_code == 302
    community_a.refresh_from_db()
    assert community_a.name == "锦江花园二期"  # what staff may change is saved
    assert (community_a.city_id, community_a.registration_callback_url, community_a.push_address) == ("CITY-A", "", "")

    client.force_login(root)
    page = client.get(url)
    data = admin_post_data(page)
    data["registration_callback_url"] = "http://192.168.1.20:8080/callback"
    assert client.post(url, data).status_code == 302
    community_a.refresh_from_db()
    assert community_a.registration_callback_url == "http://192.168.1.20:8080/callback"
