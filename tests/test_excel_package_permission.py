"""The initialisation package (附件1) has its own permission (issue 14): refused without it, named on the
exports page, and every export of it audited."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from residents.excel.exports import export_package
from residents.models import ExportLog
from security.models import AuditEvent
from tests.clients import logged_in
from tests.factories import ResidentFactory


def _package_url(community) -> str:
    return reverse("admin:residents_importjob_export", args=["package", community.pk])


def test_it_refuses_the_package_to_staff_without_the_permission(alice, community_a):
    ResidentFactory(community=community_a, city_owner_id=None)
    client = logged_in(alice)
    assert client.get(_package_url(community_a)).status_code == 403
    other = client.get(reverse("admin:residents_importjob_export", args=["residents", community_a.pk]))
    assert other.status_code == 200 and other.getvalue()  # the other exports are unchanged (read: closes the file)
    assert not ExportLog.objects.filter(kind="package").exists()
    assert not AuditEvent.objects.filter(kind="export", detail__startswith="package").exists()
    with pytest.raises(PermissionDenied):
        export_package(community_a, io.BytesIO(), acting_user=alice)
    page = client.get(reverse("admin:residents_importjob_exports")).content.decode()
    assert f'id="export-package-{community_a.pk}"' not in page
    assert f'id="export-residents-{community_a.pk}"' in page


def test_it_exports_the_package_with_the_permission_and_audits_it(alice, bob, community_a):
    ResidentFactory(community=community_a, city_owner_id=None)
    alice.user_permissions.add(Permission.objects.get(codename="export_init_package"))
    client = logged_in(alice)
    for _ in range(2):
        response = client.get(_package_url(community_a))
        assert response.status_code == 200
        b"".join(response.streaming_content)
    assert list(ExportLog.objects.filter(kind="package").values_list("user__username", "rows")) == [("alice", 1)] * 2
    events = AuditEvent.objects.filter(kind="export", user=alice, community=community_a)
    assert [e.detail.split(":")[0] for e in events] == ["package", "package"]


def test_it_says_on_the_exports_page_who_may_export_the_package(alice, bob, charlie, community_a, root):
    bob.user_permissions.add(Permission.objects.get(codename="export_init_package"))
    charlie.user_permissions.add(Permission.objects.get(codename="export_init_package"))  # another community
    page = logged_in(alice).get(reverse("admin:residents_importjob_exports"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert "只有平台管理员和被授予" in html
    assert "bob" in html and "charlie" not in html
    assert "您没有此权限" in html
    admin_page = logged_in(root).get(reverse("admin:residents_importjob_exports")).content.decode()
    assert f'id="export-package-{community_a.pk}"' in admin_page
    download = logged_in(root).get(_package_url(community_a))
    assert download.status_code == 200 and download.getvalue()  # read to the end: closes the file
