"""What the city is owed, and the record of what happened, cannot be deleted in the admin (issue 14): no
delete permission, no bulk delete, delete URLs 403, for staff and platform administrators alike; retention
is the only deleter. A platform administrator may discard an unsent outbox record, with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from security.models import AuditEvent
from tests.clients import logged_in
from tests.test_tenancy_admin import BUILDERS
from uploads import outbox, tasks
from uploads.models import Endpoint, OutboxRecord

UNDELETABLE = ["uploads.OutboxRecord", "uploads.UploadBatch", "uploads.LinkState", "devices.DeviceEvent",
               "residents.ApplyAccessCall", "security.AuditEvent"]


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("label", UNDELETABLE)
@pytest.mark.parametrize("persona", ["alice", "root"])
def test_it_refuses_to_delete_what_the_city_is_owed(request, community_a, label: str, persona: str):
    model = apps.get_model(label)
    obj = BUILDERS[label](community_a, "a")
    user = request.getfixturevalue(persona)
    client = logged_in(user)
    model_admin = admin.site._registry[model]
    fake = type("Request", (), {"user": user})()
    assert not model_admin.has_delete_permission(fake)
    assert not model_admin.has_delete_permission(fake, obj)

    changelist = client.get(_url(model, "changelist"))
    if changelist.status_code == 200:  # the audit log is for platform administrators only
        assert "delete_selected" not in changelist.content.decode()
    assert client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    client.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk],
                                            "post": "yes"})
    assert model._default_manager.filter(pk=obj.pk).exists()


def test_it_answers_403_to_the_staffs_delete_url(community_a, alice):
    record = BUILDERS["uploads.OutboxRecord"](community_a, "a")
    response = logged_in(alice).get(_url(OutboxRecord, "delete", record.pk))
    assert response.status_code == 403


def _post_discard(client: Client, records: list[OutboxRecord], **data: str):
    return client.post(_url(OutboxRecord, "changelist"), {
        "action": "discard_records", "_selected_action": [r.pk for r in records], **data})


def test_it_lets_a_platform_administrator_discard_unsent_records_with_a_reason(community_a, root):
    pending = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 1})
    dead = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 2},
                                       status=OutboxRecord.Status.DEAD)
    sent = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 3},
                                       status=OutboxRecord.Status.SENT, sent_at=timezone.now())
    client = logged_in(root)

    asking = _post_discard(client, [pending, dead, sent])
    assert asking.status_code == 200
    assert 'name="reason"' in asking.content.decode()  # the form asking the reason
    assert not OutboxRecord.objects.filter(status=OutboxRecord.Status.DISCARDED).exists()

    assert _post_discard(client, [pending, dead, sent], reason="   ").status_code == 200  # blank: asked again
    assert not OutboxRecord.objects.filter(status=OutboxRecord.Status.DISCARDED).exists()

    response = _post_discard(client, [pending, dead, sent], reason="测试数据，误录")
    assert response.status_code == 302
    for record in (pending, dead):
        record.refresh_from_db()
        assert record.status == OutboxRecord.Status.DISCARDED
        assert record.discard_reason == "测试数据，误录"
        assert record.discarded_by == root
        assert record.discarded_at is not None
    sent.refresh_from_db()
    assert sent.status == OutboxRecord.Status.SENT
    audit = AuditEvent.objects.get(kind=AuditEvent.Kind.DISCARD)
    assert (audit.user, audit.community) == (root, community_a)
    assert audit.detail == "2 outbox records discarded: 测试数据，误录"
    # Never sent to the city afterwards, and not deleted.
    assert not OutboxRecord.objects.filter(outbox.due_filter(timezone.now() + timedelta(days=1)),
                                           pk__in=[pending.pk, dead.pk]).exists()
    assert outbox.due_pairs() == []
    assert client.get(_url(OutboxRecord, "change", pending.pk)).status_code == 200


def test_it_does_not_offer_discarding_to_staff(community_a, alice):
    record = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 1})
    client = logged_in(alice)
    assert "discard_records" not in client.get(_url(OutboxRecord, "changelist")).content.decode()
    _post_discard(client, [record], reason="不要了")
    record.refresh_from_db()
    assert record.status == OutboxRecord.Status.PENDING
    with pytest.raises(outbox.DiscardError):
        outbox.discard_outbox_records(OutboxRecord.objects.all(), reason="不要了", acting_user=alice)


def test_it_discards_nothing_when_the_audit_event_cannot_be_written(community_a, root, monkeypatch):
    record = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 1})

    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(outbox, "_DISCARD_LISTENERS", [broken])
    with pytest.raises(RuntimeError):
        outbox.discard_outbox_records(OutboxRecord.objects.all(), reason="重复", acting_user=root)
    record.refresh_from_db()
    assert record.status == OutboxRecord.Status.PENDING  # one transaction: no discard without its audit row


def test_it_refuses_a_discard_without_a_reason(community_a, root):
    OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 1})
    with pytest.raises(outbox.DiscardError):
        outbox.discard_outbox_records(OutboxRecord.objects.all(), reason=" ", acting_user=root)
    assert not OutboxRecord.objects.filter(status=OutboxRecord.Status.DISCARDED).exists()


def test_it_leaves_deleting_discarded_records_to_retention(community_a, root, settings):
    record = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, fields={"n": 1})
    outbox.discard_outbox_records(OutboxRecord.objects.all(), reason="重复", acting_user=root)
    tasks.purge_outbox()
    assert OutboxRecord.objects.filter(pk=record.pk).exists()
    OutboxRecord.objects.filter(pk=record.pk).update(
        discarded_at=timezone.now() - timedelta(days=settings.UPLOAD_DEAD_RETENTION_DAYS + 1))
    tasks.purge_outbox()
    assert not OutboxRecord.objects.filter(pk=record.pk).exists()
