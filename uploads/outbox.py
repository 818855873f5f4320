"""Draining the outbox: claim due rows, send them as one batch, mark the outcome.

A row is claimed by setting it in flight with a lease and a claim token (one guarded UPDATE; on
PostgreSQL the candidate rows are first locked with SKIP LOCKED so concurrent drains take disjoint
rows). It is marked sent only after the city's `_200`, and only by the claim that sent it. A worker
that dies leaves its rows in flight until the lease ends; then any drain claims them again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from communities.models import Community, SiteCredential

from . import client, contract
from .models import Endpoint, LinkState, OutboxRecord, UploadBatch

log = logging.getLogger(__name__)

CITY_ENDPOINTS = (Endpoint.PASS_RECORD, Endpoint.FACE_SNAPSHOT, Endpoint.CAR_SNAPSHOT)


class Outcome(Enum):
    EMPTY = "empty"
    SENT = "sent"
    SPLIT = "split"  # the city refused a batch of several: its first half goes next, at once
    BUSY = "busy"  # the link is failing and another process is already probing it
    FAILED = "failed"
    HALTED = "halted"


def due_filter(now=None) -> Q:
    now = now or timezone.now()
    return (Q(status=OutboxRecord.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=OutboxRecord.Status.IN_FLIGHT, lease_until__lt=now))


# --- claiming -------------------------------------------------------------------------------------

def claim_due(community_id: int, endpoint: str, limit: int) -> tuple[str, list[OutboxRecord]]:
    """Claim up to ``limit`` due rows of one community's endpoint; returns the claim token and the rows."""
    claim = uuid.uuid4().hex
    now = timezone.now()
    due = due_filter(now)
    with transaction.atomic():
        candidates = OutboxRecord.objects.filter(community_id=community_id, endpoint=endpoint).filter(due).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return claim, []
        # Guarded: only rows still due are taken (on SQLite the IMMEDIATE transaction serialises drains).
        OutboxRecord.objects.filter(id__in=ids).filter(due).update(
            status=OutboxRecord.Status.IN_FLIGHT, claim=claim, attempts=F("attempts") + 1,
            lease_until=now + timedelta(seconds=settings.UPLOAD_LEASE_SECONDS))
    return claim, list(OutboxRecord.objects.filter(id__in=ids, claim=claim).order_by("id"))


def _claimed(records: list[OutboxRecord], claim: str) -> QuerySet[OutboxRecord]:
    return OutboxRecord.objects.filter(id__in=[r.pk for r in records], claim=claim,
                                       status=OutboxRecord.Status.IN_FLIGHT)


def release(records: list[OutboxRecord], claim: str) -> None:
    """Give rows back untouched (not sent, not their fault): they keep their place, the attempt is undone."""
    if records:
        _claimed(records, claim).update(status=OutboxRecord.Status.PENDING, claim="", lease_until=None,
                                        attempts=F("attempts") - 1)


def backoff_seconds(attempts: int) -> float:
    """Exponential, capped, with jitter (half to all of it) so that retries of many rows spread out."""
    ceiling = min(settings.UPLOAD_RETRY_MAX_SECONDS, settings.UPLOAD_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


def fail(records: list[OutboxRecord], claim: str, error: str, batch: UploadBatch | None = None) -> int:
    """Schedule a retry, or dead-letter rows past the attempt or age limit. Returns how many died."""
    now = timezone.now()
    too_old = now - timedelta(hours=settings.UPLOAD_MAX_AGE_HOURS)
    dead = [r for r in records if r.attempts >= settings.UPLOAD_MAX_ATTEMPTS or (r.requeued_at or r.created_at) < too_old]
    retry = [r for r in records if r not in dead]
    if dead:
        _claimed(dead, claim).update(status=OutboxRecord.Status.DEAD, lease_until=None, last_error=error[:2000],
                                     batch=batch)
        log.warning("dead-lettered %d outbox rows: %s", len(dead), error[:200])
    if retry:
        delay = backoff_seconds(max(r.attempts for r in retry))
        _claimed(retry, claim).update(status=OutboxRecord.Status.PENDING, lease_until=None, last_error=error[:2000],
                                      next_attempt_at=now + timedelta(seconds=delay), batch=batch)
    return len(dead)


def mark_sent(records: list[OutboxRecord], claim: str, batch: UploadBatch | None, note: str = "") -> int:
    return _claimed(records, claim).update(status=OutboxRecord.Status.SENT, sent_at=timezone.now(), lease_until=None,
                                           batch=batch, last_error=note)


# --- the request body -----------------------------------------------------------------------------

def contract_fields(record: OutboxRecord, community: Community) -> dict:
    """The row's fields (images aside) as the city wants them (uploads.contract)."""
    return contract.city_record(record.endpoint, record.all_fields, community_id=community.city_id,
                                record_id=record.pk)


def encode_record(record: OutboxRecord, community: Community) -> bytes:
    """One array element as JSON bytes, images read from storage and base64-encoded (no data: prefix)."""
    fields = contract_fields(record, community)
    images = []
    for field_name, path in record.images.items():
        fields.pop(field_name, None)
        with default_storage.open(path, "rb") as handle:
            images.append(json.dumps(field_name).encode() + b':"' + contract.city_image_bytes(handle.read()) + b'"')
    head = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    if not images:
        return head
    # Base64 needs no JSON escaping: the images are spliced in as bytes instead of being scanned by the encoder
    # (most of a record's bytes, and most of the time of building a body).
    return head[:-1] + (b"," if fields else b"") + b",".join(images) + b"}"


@dataclass
class Body:
    data: bytes
    records: list[OutboxRecord]


def build_body(records: list[OutboxRecord], claim: str, community: Community) -> Body:
    """Encode as many of the claimed rows as fit under UPLOAD_MAX_BODY_BYTES; release the others for the
    next batch and dead-letter any row that can never be sent (an image gone, or too big on its own)."""
    parts: list[bytes] = []
    taken: list[OutboxRecord] = []
    size = 2
    for index, record in enumerate(records):
        try:
            part = encode_record(record, community)
        except (OSError, ValueError) as exc:
            _dead_now([record], claim, f"cannot build the record: {type(exc).__name__}: {exc}")
            continue
        if 2 + len(part) > settings.UPLOAD_MAX_BODY_BYTES:
            _dead_now([record], claim, f"record of {len(part)} bytes exceeds UPLOAD_MAX_BODY_BYTES")
            continue
        if size + len(part) + 1 > settings.UPLOAD_MAX_BODY_BYTES:
            release(records[index:], claim)
            break
        parts.append(part)
        taken.append(record)
        size += len(part) + 1
    return Body(b"[" + b",".join(parts) + b"]", taken)


def _dead_now(records: list[OutboxRecord], claim: str, error: str) -> None:
    _claimed(records, claim).update(status=OutboxRecord.Status.DEAD, lease_until=None, last_error=error[:2000])
    log.warning("dead-lettered outbox row(s) %s: %s", [r.pk for r in records], error)


# --- halting on bad credentials -------------------------------------------------------------------

def is_halted(community: Community) -> bool:
    """Halted until someone changes the credentials (or clears the flag in the admin)."""
    if not community.uploads_halted_reason:
        return False
    credential = SiteCredential.objects.filter(community=community).first()
    if credential and community.uploads_halted_at and credential.updated_at > community.uploads_halted_at:
        resumed = Community.objects.filter(pk=community.pk, uploads_halted_at=community.uploads_halted_at).update(
            uploads_halted_reason="", uploads_halted_at=None)
        if resumed:
            log.info("community %s: credentials changed, uploads resume", community.city_id)
        community.uploads_halted_reason, community.uploads_halted_at = "", None
        return False
    return True


def halt(community: Community, reason: str) -> None:
    from .alerts import alert_credentials

    halted = Community.objects.filter(pk=community.pk, uploads_halted_reason="").update(
        uploads_halted_reason=reason[:200], uploads_halted_at=timezone.now())
    note_error(community.pk, reason)
    if halted:  # once per incident, whichever worker got there first
        log.error("community %s: uploads halted: %s", community.city_id, reason)
        alert_credentials(community, reason)


def note_error(community_id: int, error: str) -> None:
    LinkState.objects.get_or_create(community_id=community_id)
    LinkState.objects.filter(community_id=community_id).update(last_error=error[:2000], last_error_at=timezone.now())


def note_success(community_id: int) -> None:
    LinkState.objects.get_or_create(community_id=community_id)
    LinkState.objects.filter(community_id=community_id).update(last_success_at=timezone.now())


# --- sending --------------------------------------------------------------------------------------

def post_with_token(community: Community, endpoint: str, body: bytes) -> client.Answer:
    """Send with the shared token; on `_401` drop it, log in again and resend the same body once."""
    def on_bad_credentials(reason: str) -> None:
        halt(community, reason)

    token = client.get_token(community, on_bad_credentials=on_bad_credentials)
    answer = client.post_upload(endpoint, body, token)
    if answer.unauthorized:
        client.token_store().drop(community.pk, token)
        answer = client.post_upload(endpoint, body, client.get_token(community, on_bad_credentials=on_bad_credentials))
        if answer.unauthorized:
            answer.error = "_401 twice in a row: " + (answer.error or "token refused")
            answer.response_code = answer.response_code or "_401"
    return answer


def _new_batch(community: Community, endpoint: str, count: int, size: int) -> UploadBatch:
    return UploadBatch.objects.create(community=community, endpoint=endpoint, record_count=count, body_bytes=size,
                                      worker=f"{socket.gethostname()}:{os.getpid()}")


def _finish(batch: UploadBatch, answer: client.Answer | None, error: str = "") -> None:
    UploadBatch.objects.filter(pk=batch.pk).update(
        finished_at=timezone.now(), http_status=answer.http_status if answer else None,
        response_code=answer.response_code if answer else "", error=(error or (answer.error if answer else ""))[:2000])


def batch_limit(community_id: int, endpoint: str) -> int:
    limits = LinkState.objects.filter(community_id=community_id).values_list("batch_limits", flat=True).first() or {}
    return max(1, min(settings.UPLOAD_BATCH_SIZE, int(limits.get(endpoint, settings.UPLOAD_BATCH_SIZE))))


def set_batch_limit(community_id: int, endpoint: str, limit: int) -> None:
    """Last writer wins: concurrent drains may race here, and either answer is a fine batch size."""
    state, _created = LinkState.objects.get_or_create(community_id=community_id)
    limits = dict(state.batch_limits or {})
    limits[endpoint] = max(1, min(settings.UPLOAD_BATCH_SIZE, limit))
    LinkState.objects.filter(pk=state.pk).update(batch_limits=limits)


def send_city_batch(community: Community, endpoint: str, records: list[OutboxRecord], claim: str,
                    limit: int) -> Outcome:
    body = build_body(records, claim, community)
    if not body.records:
        return Outcome.SENT  # everything claimed was dead-lettered or released: try the next batch
    batch = _new_batch(community, endpoint, len(body.records), len(body.data))
    try:
        answer = post_with_token(community, endpoint, body.data)
    except client.BadCredentials as exc:
        _finish(batch, None, str(exc))
        release(body.records, claim)  # halted by on_bad_credentials, or found halted
        return Outcome.HALTED
    except client.TransientError as exc:
        _finish(batch, None, str(exc))
        fail(body.records, claim, str(exc), batch)
        note_error(community.pk, str(exc))
        return Outcome.FAILED
    _finish(batch, answer)
    if answer.ok:
        mark_sent(body.records, claim, batch)
        note_success(community.pk)
        if limit < settings.UPLOAD_BATCH_SIZE:
            set_batch_limit(community.pk, endpoint, limit * 2)
        return Outcome.SENT
    note_error(community.pk, answer.error)
    if answer.response_code == "_500" and len(body.records) > 1:
        # The city read the batch and refused it: maybe one bad record. Halve and resend at once; the
        # rows are not at fault (yet), so the attempt is not counted.
        set_batch_limit(community.pk, endpoint, len(body.records) // 2)
        _claimed(body.records, claim).update(status=OutboxRecord.Status.PENDING, claim="", lease_until=None,
                                             attempts=F("attempts") - 1, last_error=answer.error[:2000], batch=batch)
        return Outcome.SPLIT
    fail(body.records, claim, answer.error, batch)
    return Outcome.FAILED


def send_callbacks(community: Community, records: list[OutboxRecord], claim: str) -> Outcome:
    """Registration callbacks: one JSON object per request to the community's callback URL (no token)."""
    url = community.registration_callback_url
    if not url:
        mark_sent(records, claim, None, note="no registration callback URL configured: nothing delivered")
        return Outcome.SENT
    for record in records:
        batch = _new_batch(community, Endpoint.REGISTRATION_CALLBACK, 1, 0)
        try:
            answer = client.post_callback(url, contract_fields(record, community))
        except client.TransientError as exc:
            _finish(batch, None, str(exc))
            fail([record], claim, str(exc), batch)
            release([r for r in records if r.pk > record.pk], claim)
            return Outcome.FAILED
        _finish(batch, answer)
        if not answer.ok:
            fail([record], claim, answer.error, batch)
            release([r for r in records if r.pk > record.pk], claim)
            return Outcome.FAILED
        mark_sent([record], claim, batch)
    return Outcome.SENT


def drain_once(community_id: int, endpoint: str) -> Outcome:
    community = Community.objects.filter(pk=community_id).first()
    if community is None:
        return Outcome.EMPTY
    if endpoint != Endpoint.REGISTRATION_CALLBACK and is_halted(community):
        return Outcome.HALTED
    if endpoint == Endpoint.REGISTRATION_CALLBACK:
        claim, records = claim_due(community_id, endpoint, 10)
        return send_callbacks(community, records, claim) if records else Outcome.EMPTY
    probing = link_failing(community_id)
    if probing and not take_probe(community_id):
        return Outcome.BUSY
    try:
        limit = batch_limit(community_id, endpoint)
        claim, records = claim_due(community_id, endpoint, limit)
        if not records:
            return Outcome.EMPTY
        return send_city_batch(community, endpoint, records, claim, limit)
    finally:
        if probing:
            LinkState.objects.filter(community_id=community_id).update(probe_until=None)


def link_failing(community_id: int) -> bool:
    """The last thing that happened on this community's link was an error."""
    state = LinkState.objects.filter(community_id=community_id).values("last_error_at", "last_success_at").first()
    return bool(state and state["last_error_at"] and (
        state["last_success_at"] is None or state["last_error_at"] > state["last_success_at"]))


def take_probe(community_id: int) -> bool:
    now = timezone.now()
    # Long enough for a login, an upload and its one resend; a dead prober's claim expires by itself.
    hold = settings.UPLOAD_CONNECT_TIMEOUT * 3 + settings.UPLOAD_READ_TIMEOUT * 3 + 10
    return bool(LinkState.objects.filter(community_id=community_id).filter(
        Q(probe_until__isnull=True) | Q(probe_until__lt=now)).update(probe_until=now + timedelta(seconds=hold)))


def drain(community_id: int, endpoint: str, budget_seconds: float | None = None) -> tuple[Outcome, int]:
    """Send batches until nothing is due, a batch fails, or the time budget is spent.
    Returns the last outcome and the number of batches tried."""
    budget = settings.UPLOAD_DRAIN_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    batches = 0
    while True:
        outcome = drain_once(community_id, endpoint)
        if outcome is not Outcome.EMPTY:
            batches += 1
        # A failure stops this drain: the rows wait for their backoff, and the worker is free for others.
        if outcome not in (Outcome.SENT, Outcome.SPLIT) or time.monotonic() > deadline:
            return outcome, batches


def due_pairs() -> list[tuple[int, str]]:
    """(community, endpoint) pairs with due rows, skipping halted communities' city endpoints."""
    pairs = set(OutboxRecord.objects.filter(due_filter()).values_list("community_id", "endpoint").distinct())
    halted = {c.pk: c for c in Community.objects.filter(pk__in={p[0] for p in pairs}).exclude(uploads_halted_reason="")}
    return sorted((cid, ep) for cid, ep in pairs
                  if ep == Endpoint.REGISTRATION_CALLBACK or cid not in halted or not is_halted(halted[cid]))


def retry_dead(queryset: QuerySet[OutboxRecord], *, acting_user) -> int:
    """Put dead letters back in the queue, as new: attempts reset, due now. The last error stays
    (prefixed) until the next attempt replaces it, so the reason is not lost."""
    from .services import nudge_drain

    with transaction.atomic():
        rows = list(queryset.filter(status=OutboxRecord.Status.DEAD).values_list("id", "community_id", "endpoint"))
        now = timezone.now()
        count = OutboxRecord.objects.filter(id__in=[r[0] for r in rows], status=OutboxRecord.Status.DEAD).update(
            status=OutboxRecord.Status.PENDING, attempts=0, next_attempt_at=now, claim="", requeued_at=now,
            last_error=Concat(Value(f"retried by {acting_user}; was: "), F("last_error")))
        pairs = {(r[1], r[2]) for r in rows}
        transaction.on_commit(lambda: [nudge_drain(cid, ep) for cid, ep in pairs])
    log.info("%s put %d dead outbox rows back in the queue", acting_user, count)
    return count


# Rows that never reached the city: pending ones waiting for their turn or backoff, and dead letters.
# A row in flight is being sent this moment (the city may already hold it) and cannot be discarded.
DISCARDABLE = (OutboxRecord.Status.PENDING, OutboxRecord.Status.DEAD)


class DiscardError(Exception):
    pass


# Called inside the discarding transaction with (community=, count=, reason=, acting_user=) for each community
# whose rows were discarded: the audit log's writer, which uploads may not import (security is beside it);
# an app above both registers it (residents.apps).
_DISCARD_LISTENERS: list[Callable[..., object]] = []


def on_discard(listener: Callable[..., object]) -> None:
    if listener not in _DISCARD_LISTENERS:
        _DISCARD_LISTENERS.append(listener)


def discard_outbox_records(queryset: QuerySet[OutboxRecord], *, reason: str, acting_user) -> int:
    """Set unsent rows aside for good (they are never sent, and never deleted except by retention), with
    who, when and why on the row itself, and an audit event per community written by the registered
    listeners (``on_discard``) in the same transaction. Platform administrators only; a reason is required."""
    reason = reason.strip()
    if not reason:
        raise DiscardError("a reason is required to discard outbox records")
    if acting_user is None or not (acting_user.is_active and acting_user.is_superuser):
        raise DiscardError("only platform administrators discard outbox records")
    with transaction.atomic():
        ids = list(queryset.filter(status__in=DISCARDABLE).values_list("id", flat=True))
        now = timezone.now()
        # Guarded by the status, like a claim: a row a drain claimed meanwhile is not discarded.
        count = OutboxRecord.objects.filter(id__in=ids, status__in=DISCARDABLE).update(
            status=OutboxRecord.Status.DISCARDED, discarded_at=now, discarded_by=acting_user,
            discard_reason=reason[:300], claim="", lease_until=None)
        per_community = (OutboxRecord.objects.filter(id__in=ids, status=OutboxRecord.Status.DISCARDED,
                                                     discarded_at=now)
                         .values("community").annotate(n=Count("id")).order_by())
        communities = Community.objects.in_bulk([row["community"] for row in per_community])
        for row in per_community:
            for listener in _DISCARD_LISTENERS:
                listener(community=communities[row["community"]], count=row["n"], reason=reason[:300],
                         acting_user=acting_user)
    log.warning("%s discarded %d unsent outbox rows: %s", acting_user, count, reason[:300])
    return count


def resume_uploads(community: Community, *, acting_user) -> bool:
    """Clear a halt by hand (e.g. the city fixed the account without our credentials changing)."""
    from .services import nudge_drain

    with transaction.atomic():
        resumed = Community.objects.filter(pk=community.pk).exclude(uploads_halted_reason="").update(
            uploads_halted_reason="", uploads_halted_at=None)
        if resumed:
            for endpoint in CITY_ENDPOINTS:
                transaction.on_commit(lambda e=endpoint: nudge_drain(community.pk, e))
    log.info("%s resumed the uploads of %s", acting_user, community.city_id)
    return bool(resumed)
