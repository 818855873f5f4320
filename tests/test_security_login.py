"""Admin login throttling and the audit log: logins (admin and guard page), failures, locks, logouts and every
export of personal data are recorded with who, when and the address; only superusers see the log, read-only."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from security.models import AuditEvent
from tests.factories import ResidentFactory

pytestmark = pytest.mark.django_db
PASSWORD = "password-for-tests-1"  # tests.factories.UserFactory


@pytest.fixture(autouse=True)
def fresh_cache(login_cache):
    return login_cache


def admin_login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(reverse("admin:login"), {"username": username, "password": password},
                       REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_it_locks_the_admin_login_after_repeated_failures_with_a_chinese_message(alice, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert admin_login(client, "alice", "wrong").status_code == 200
    locked = admin_login(client, "alice", PASSWORD)  # the right password, during the lock
    assert locked.status_code == 200
    assert "登录失败次数过多" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by someone else's failures, nor is another login from the same address.
    assert admin_login(Client(), "alice", PASSWORD, address="10.0.0.2").status_code == 302
    kinds = list(AuditEvent.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["login_failed"] * 3 + ["login_locked", "login"]


def test_it_unlocks_after_the_lock_time_and_resets_on_success(alice, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    client = Client()
    admin_login(client, "alice", "wrong")
    assert admin_login(client, "alice", PASSWORD).status_code == 302  # a success clears the count
    client.logout()
    admin_login(client, "alice", "wrong")
    assert admin_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        admin_login(client, "alice", "wrong")
    assert admin_login(client, "alice", PASSWORD).status_code == 200
    cache.clear()  # what the lock's expiry does
    assert admin_login(client, "alice", PASSWORD).status_code == 302


def test_it_audits_admin_and_guard_logins_with_the_address_and_masks_phone_logins(alice, gary):
    client = Client()
    admin_login(client, "alice", PASSWORD, address="192.0.2.7")
    client.post(reverse("admin:logout"), REMOTE_ADDR="192.0.2.7")
    guard = Client()
    guard.post(reverse("residents:guard-login"), {"username": "13900000001", "password": "nope"},
               REMOTE_ADDR="192.0.2.8")
    events = list(AuditEvent.objects.order_by("pk"))
    assert [(e.kind, e.user, e.ip) for e in events] == [
        ("login", alice, "192.0.2.7"), ("logout", alice, "192.0.2.7"), ("login_failed", None, "192.0.2.8")]
    assert events[2].username == "139****0001"  # a guard's login is a phone number: masked (PIPL)
    assert events[2].path == "/guard/login/"


def test_it_audits_every_export_of_personal_data(alice, community_a):
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="export_init_package"))
    ResidentFactory(community=community_a)
    client = Client()
    client.force_login(alice)
    for kind in ("residents", "package"):
        answer = client.get(reverse("admin:residents_importjob_export", args=[kind, community_a.pk]))
        answer.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
        assert answer.status_code == 200
    exports = AuditEvent.objects.filter(kind="export").order_by("pk")
    assert [(e.user, e.community) for e in exports] == [(alice, community_a)] * 2
    assert exports[0].detail.startswith("residents: 1 rows")


def test_it_shows_the_audit_log_to_superusers_only_and_read_only(root, alice, community_a):
    event = AuditEvent.objects.create(kind="login", username="alice", community=community_a)
    staff, admin_client = Client(), Client()
    staff.force_login(alice)
    admin_client.force_login(root)
    changelist = reverse("admin:security_auditevent_changelist")
    assert staff.get(changelist).status_code == 403
    assert admin_client.get(changelist).status_code == 200
    change = reverse("admin:security_auditevent_change", args=[event.pk])
    assert admin_client.get(change).status_code == 200  # the view-only page
    assert admin_client.post(change, {"kind": "logout"}).status_code == 403
    assert admin_client.get(reverse("admin:security_auditevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:security_auditevent_delete", args=[event.pk]),
                             {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.kind == "login"
