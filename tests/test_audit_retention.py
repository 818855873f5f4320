"""Retention of the audit log: events older than AUDIT_RETENTION_DAYS are deleted hourly by the beat, in chunks."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from security import services, tasks
from security.models import AuditEvent

pytestmark = pytest.mark.django_db


def event_aged(days: float, now) -> AuditEvent:
    """An audit event that happened ``days`` before ``now`` (``at`` is auto_now_add: set it afterwards)."""
    event = AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, username=f"user-{days}")
    AuditEvent.objects.filter(pk=event.pk).update(at=now - timedelta(days=days))
    return event


def remaining() -> set[int]:
    return set(AuditEvent.objects.values_list("pk", flat=True))


def test_it_keeps_a_year_by_default() -> None:
    assert django_settings.AUDIT_RETENTION_DAYS == 365


def test_it_deletes_an_old_event_and_keeps_a_recent_one() -> None:
    now = timezone.now()
    old, recent = event_aged(400, now), event_aged(10, now)
    assert services.purge_audit_events(now=now) == 1
    assert remaining() == {recent.pk}
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_it_deletes_only_what_is_older_than_the_retention(settings) -> None:
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    just_past = event_aged(30 + 1 / 86400, now)  # one second past the cutoff
    at_cutoff = event_aged(30, now)  # exactly at the cutoff: not older, kept
    just_within = event_aged(30 - 1 / 86400, now)
    assert services.purge_audit_events(now=now) == 1
    assert remaining() == {at_cutoff.pk, just_within.pk}
    assert just_past.pk not in remaining()


def test_it_deletes_in_chunks_of_bounded_size(caplog) -> None:
    now = timezone.now()
    old = [event_aged(366 + n, now) for n in range(7)]
    recent = event_aged(1, now)
    with CaptureQueriesContext(connection) as queries, caplog.at_level(logging.INFO, logger="afxq.audit"):
        assert services.purge_audit_events(now=now, chunk=3) == len(old)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1 ids
    assert remaining() == {recent.pk}
    assert "7 event(s) older than 365 days deleted" in caplog.text


def test_it_deletes_nothing_when_nothing_is_old() -> None:
    recent = event_aged(0, timezone.now())
    assert services.purge_audit_events() == 0
    assert remaining() == {recent.pk}


def test_it_runs_the_purge_on_the_beat(settings) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["security-purge-audit-events"]
    assert entry["task"] == tasks.purge_audit_events.name == "security.purge_audit_events"
    settings.AUDIT_RETENTION_DAYS = 0
    event_aged(1, timezone.now())
    assert tasks.purge_audit_events() == 1
    assert not AuditEvent.objects.exists()
