"""Every time a person reads in the admin is Asia/Shanghai's (issue 14): the outbox record's "last batch"
showed the batch's start in UTC (19:20 for 03:20)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from devices.models import FaceTombstone
from residents.excel.models import ExportLog
from residents.models import ApplyAccessCall
from security.models import AuditEvent
from uploads.models import Endpoint, OutboxRecord, UploadBatch

UTC_19_20 = dt.datetime(2026, 12, 1, 19, 20, 5, tzinfo=dt.UTC)  # 03:20:05 on the 2nd in Shanghai


def test_it_shows_the_latest_batch_of_an_outbox_record_in_local_time(community_a, alice):
    batch = UploadBatch.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, started_at=UTC_19_20)
    record = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.PASS_RECORD, batch=batch)
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("admin:uploads_outboxrecord_change", args=[record.pk])).content.decode()
    assert "2026-12-02 03:20:05" in html
    assert "19:20" not in html


@pytest.mark.django_db
def test_it_names_every_record_by_its_local_time(community_a):
    assert str(UploadBatch(community=community_a, endpoint=Endpoint.PASS_RECORD, started_at=UTC_19_20)).endswith(
        "@ 2026-12-02 03:20:05")
    assert str(ApplyAccessCall(ywlsh="YW-1", received_at=UTC_19_20)).endswith("@ 2026-12-02 03:20:05")
    assert str(AuditEvent(kind="login", username="alice", at=UTC_19_20)).endswith("2026-12-02 03:20")
    assert str(ExportLog(kind="residents", at=UTC_19_20)).endswith("2026-12-02 03:20")
    assert str(FaceTombstone(resident_id=1, deleted_at=UTC_19_20)).endswith("2026-12-02 03:20:05")
