"""The outbox itself: claiming, leases, dead letters, the byte ceiling, the registration callback,
retention and one nudge per transaction."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from tests.factories import SiteCredentialFactory
from uploads import outbox, tasks
from uploads.models import Endpoint, OutboxRecord
from uploads.services import enqueue_record
from uploads.testing import car_snapshot, pass_record

CITY = "http://city.test"
OK = {"timestamp": 1, "data": None, "responseCode": "_200", "errorMsg": None}


@pytest.fixture
def community(community_a, settings):
    settings.CITY_PLATFORM_BASE_URL = CITY
    SiteCredentialFactory(community=community_a)
    from uploads import client

    client.token_store().drop(community_a.pk, client.token_store().get(community_a.pk) or "")
    return community_a


def enqueue(community, count: int, maker=pass_record) -> list[OutboxRecord]:
    endpoint = Endpoint.PASS_RECORD if maker is pass_record else Endpoint.CAR_SNAPSHOT
    return [enqueue_record(community=community, endpoint=endpoint, fields=f, images=i)
            for f, i in (maker(community, n) for n in range(count))]


def city(responses_mock=responses) -> responses.BaseResponse:
    responses_mock.post(f"{CITY}/oauth/token", json={"access_token": "t", "expires_in": 3600})
    return responses_mock.post(f"{CITY}/api/platform/person-inout-info", json=OK)


def test_it_claims_disjoint_rows_and_reclaims_after_the_lease(community):
    enqueue(community, 5)
    claim_1, first = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 3)
    _claim_2, second = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 3)
    assert len(first) == 3 and len(second) == 2
    assert not {r.pk for r in first} & {r.pk for r in second}
    assert outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 3)[1] == []
    # The first worker dies; its lease ends; another drain takes its rows.
    OutboxRecord.objects.filter(claim=claim_1).update(lease_until=timezone.now() - timedelta(seconds=1))
    claim_3, again = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 10)
    assert {r.pk for r in again} == {r.pk for r in first}
    assert all(r.attempts == 2 for r in again)
    # The dead worker's late answer cannot mark them: its claim is gone.
    assert outbox.mark_sent(first, claim_1, None) == 0
    assert outbox.mark_sent(again, claim_3, None) == 3


def test_it_dead_letters_after_the_attempt_limit_or_the_age_limit(community, settings):
    settings.UPLOAD_MAX_ATTEMPTS = 2
    settings.UPLOAD_MAX_AGE_HOURS = 1
    records = enqueue(community, 3)
    OutboxRecord.objects.filter(pk=records[2].pk).update(created_at=timezone.now() - timedelta(hours=2))
    claim, rows = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 10)
    assert outbox.fail(rows, claim, "_500 first") == 1  # the old one
    OutboxRecord.objects.update(next_attempt_at=timezone.now())
    claim, rows = outbox.claim_due(community.pk, Endpoint.PASS_RECORD, 10)
    assert outbox.fail(rows, claim, "_500 second") == 2
    dead = OutboxRecord.objects.filter(status=OutboxRecord.Status.DEAD)
    assert dead.count() == 3
    assert set(dead.values_list("last_error", flat=True)) == {"_500 first", "_500 second"}


@responses.activate
def test_it_keeps_each_request_under_the_byte_ceiling(community, settings):
    records = enqueue(community, 10)
    one = max(len(outbox.encode_record(r, community)) for r in records)
    settings.UPLOAD_MAX_BODY_BYTES = 3 * one + 10
    upload = city()
    outcome, _batches = outbox.drain(community.pk, Endpoint.PASS_RECORD)
    assert outcome is outbox.Outcome.EMPTY
    sizes = [len(call.request.body) for call in upload.calls]
    assert len(sizes) == 4 and max(sizes) <= settings.UPLOAD_MAX_BODY_BYTES
    assert sum(len(json.loads(call.request.body)) for call in upload.calls) == 10
    assert OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT).count() == 10
    # Released rows were not charged an attempt.
    assert set(OutboxRecord.objects.values_list("attempts", flat=True)) == {1}


@responses.activate
def test_it_dead_letters_a_row_whose_image_is_gone_and_sends_the_rest(community):
    records = enqueue(community, 3)
    default_storage.delete(records[1].images["imageBase64"])
    upload = city()
    outbox.drain(community.pk, Endpoint.PASS_RECORD)
    assert len(json.loads(upload.calls[0].request.body)) == 2
    gone = OutboxRecord.objects.get(pk=records[1].pk)
    assert gone.status == OutboxRecord.Status.DEAD and "cannot build the record" in gone.last_error


@pytest.mark.parametrize(("setting", "expected"), [("number", 2), ("string", "02")])
def test_it_sends_the_plate_type_in_the_configured_format(community, settings, setting, expected):
    settings.CITY_PLATE_TYPE_FORMAT = setting
    record = enqueue(community, 1, maker=car_snapshot)[0]
    record.fields["licensePlateType"] = "2"  # as a producer might store it
    assert outbox.contract_fields(record, community)["licensePlateType"] == expected


def test_it_maps_person_types_and_adds_the_constants_of_a_pass_record(community):
    record = OutboxRecord(pk=42, community=community, endpoint=Endpoint.PASS_RECORD,
                          fields={"type": "04", "openDate": "2026-11-26 08:00:00", "inout": "in"})
    fields = outbox.contract_fields(record, community)
    assert fields == {"type": "THE_WAITER", "openDate": "2026-11-26 08:00:00", "inout": "in", "outId": "42",
                      "way": "FACE", "source": "THIRDPARTY_CLIENT", "communityId": community.city_id}


@responses.activate
def test_it_sends_a_pass_record_stored_by_earlier_versions_as_it_sent_it_then(community):
    # Rows written before uploads.contract held the constants and the pass-record type themselves.
    old = {"outId": "77", "way": "FACE", "openDate": "2026-11-26 08:00:00", "communityId": community.city_id,
           "type": "THE_WAITER", "userId": "owner-1", "policePointId": "PP-1", "inout": "out",
           "source": "THIRDPARTY_CLIENT"}
    record = enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, fields=old,
                            images=pass_record(community, 0)[1])
    upload = city()
    outbox.drain(community.pk, Endpoint.PASS_RECORD)
    [sent] = json.loads(upload.calls[0].request.body)
    assert {k: v for k, v in sent.items() if k not in record.images} == old
    assert OutboxRecord.objects.get(pk=record.pk).status == OutboxRecord.Status.SENT


@responses.activate
def test_it_dead_letters_a_pass_record_whose_type_is_in_neither_vocabulary(community):
    fields, images = pass_record(community, 0)
    record = enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, fields={**fields, "type": "07"},
                            images=images)
    upload = city()
    outbox.drain(community.pk, Endpoint.PASS_RECORD)
    assert not upload.calls
    dead = OutboxRecord.objects.get(pk=record.pk)
    assert dead.status == OutboxRecord.Status.DEAD and "type '07'" in dead.last_error


CALLBACK = {"ywlsh": "YW1", "ownerId": "owner-1", "communityId": "CITY-A", "result": "approved", "reason": "",
            "time": "2026-11-26 08:00:00"}


@responses.activate
def test_it_posts_each_registration_callback_as_one_json_object(community):
    community.registration_callback_url = "http://province.test/callback"
    community.save()
    for n in range(3):
        enqueue_record(community=community, endpoint=Endpoint.REGISTRATION_CALLBACK, fields={**CALLBACK, "ywlsh": f"YW{n}"})
    hook = responses.post("http://province.test/callback", status=204)
    outbox.drain(community.pk, Endpoint.REGISTRATION_CALLBACK)
    bodies = [json.loads(call.request.body) for call in hook.calls]
    assert [b["ywlsh"] for b in bodies] == ["YW0", "YW1", "YW2"]
    assert "Authorization" not in hook.calls[0].request.headers
    assert OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT).count() == 3


@responses.activate
def test_it_retries_a_refused_callback_and_stops_at_the_first_failure(community):
    community.registration_callback_url = "http://province.test/callback"
    community.save()
    for n in range(2):
        enqueue_record(community=community, endpoint=Endpoint.REGISTRATION_CALLBACK, fields={**CALLBACK, "ywlsh": f"YW{n}"})
    responses.post("http://province.test/callback", status=500)
    assert outbox.drain_once(community.pk, Endpoint.REGISTRATION_CALLBACK) is outbox.Outcome.FAILED
    first, second = OutboxRecord.objects.order_by("id")
    assert first.status == OutboxRecord.Status.PENDING and first.attempts == 1 and "HTTP 500" in first.last_error
    assert second.status == OutboxRecord.Status.PENDING and second.attempts == 0


def test_it_marks_callbacks_sent_with_a_note_when_there_is_no_url(community):
    enqueue_record(community=community, endpoint=Endpoint.REGISTRATION_CALLBACK, fields=CALLBACK)
    assert outbox.drain_once(community.pk, Endpoint.REGISTRATION_CALLBACK) is outbox.Outcome.SENT
    record = OutboxRecord.objects.get()
    assert record.status == OutboxRecord.Status.SENT and "no registration callback URL" in record.last_error


def test_it_purges_sent_rows_and_their_images_after_the_retention(community, settings):
    settings.UPLOAD_RETENTION_DAYS = 30
    settings.UPLOAD_DEAD_RETENTION_DAYS = 90
    settings.UPLOAD_SENT_IMAGE_RETENTION_DAYS = 1
    old, recent, dead, pending = enqueue(community, 4)
    just_sent = enqueue(community, 1)[0]
    OutboxRecord.objects.filter(pk=just_sent.pk).update(status=OutboxRecord.Status.SENT, sent_at=timezone.now())
    OutboxRecord.objects.filter(pk__in=[old.pk, recent.pk]).update(status=OutboxRecord.Status.SENT)
    OutboxRecord.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=31))
    OutboxRecord.objects.filter(pk=recent.pk).update(sent_at=timezone.now() - timedelta(days=29))
    OutboxRecord.objects.filter(pk=dead.pk).update(status=OutboxRecord.Status.DEAD,
                                                   created_at=timezone.now() - timedelta(days=60))
    assert tasks.purge_outbox() == 1
    assert set(OutboxRecord.objects.values_list("pk", flat=True)) == {recent.pk, dead.pk, pending.pk, just_sent.pk}
    assert not any(default_storage.exists(p) for p in old.images.values())
    # A row sent 29 days ago stays, without its images; one sent just now keeps them; unsent rows keep theirs.
    assert not any(default_storage.exists(p) for p in recent.images.values())
    assert OutboxRecord.objects.get(pk=recent.pk).images == {}
    assert all(default_storage.exists(p) for r in (just_sent, dead, pending) for p in r.images.values())


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list]]:
    from afxq_portal.celery_app import app

    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **kwargs: sent.append((name, args)))
    return sent


def test_it_nudges_once_per_community_and_endpoint_per_transaction(community, sent_tasks,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue(community, 5)
        enqueue(community, 2, maker=car_snapshot)
        enqueue(community, 3)
    assert sorted(sent_tasks) == sorted([("uploads.drain_outbox", [community.pk, Endpoint.PASS_RECORD]),
                                         ("uploads.drain_outbox", [community.pk, Endpoint.CAR_SNAPSHOT])])


def test_it_nudges_again_after_a_rolled_back_transaction(community, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                enqueue(community, 2)
                raise RuntimeError("the producer failed")
        except RuntimeError:
            pass
        with transaction.atomic():
            enqueue(community, 1)
    assert sent_tasks == [("uploads.drain_outbox", [community.pk, Endpoint.PASS_RECORD])]
    assert OutboxRecord.objects.count() == 1  # the rolled-back rows are gone with their source


def test_it_nudges_when_the_last_rows_were_in_a_rolled_back_savepoint(community, sent_tasks,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue(community, 1)
        try:
            with transaction.atomic():
                enqueue(community, 1)
                raise RuntimeError("the savepoint rolls back")
        except RuntimeError:
            pass
    assert sent_tasks == [("uploads.drain_outbox", [community.pk, Endpoint.PASS_RECORD])]


@responses.activate
def test_it_isolates_a_record_the_city_refuses_by_halving_the_batch(community, settings):
    settings.UPLOAD_MAX_ATTEMPTS = 1
    records = enqueue(community, 120)
    poison = records[37]
    responses.post(f"{CITY}/oauth/token", json={"access_token": "t", "expires_in": 3600})

    def city_answer(request):
        batch = json.loads(request.body)
        if any(r["outId"] == poison.fields["outId"] for r in batch):
            return 200, {}, json.dumps({"responseCode": "_500", "errorMsg": "record 3: bigImageBase64: too big"})
        return 200, {}, json.dumps(OK)

    upload = responses.add_callback(responses.POST, f"{CITY}/api/platform/person-inout-info", callback=city_answer)
    for _ in range(10):  # each drain stops at the failure of the bad record alone; the next sweep goes on
        outbox.drain(community.pk, Endpoint.PASS_RECORD)
    sent = OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT)
    assert sent.count() == 119
    dead = OutboxRecord.objects.get(status=OutboxRecord.Status.DEAD)
    assert dead.pk == poison.pk and "too big" in dead.last_error
    # The good rows were never charged for the bad one.
    assert set(sent.values_list("attempts", flat=True)) == {1}
    assert len(upload.calls) < 30
    assert outbox.batch_limit(community.pk, Endpoint.PASS_RECORD) == 50  # back to full batches


def test_it_keeps_the_record_when_the_broker_is_down(community, monkeypatch, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    from afxq_portal.celery_app import app

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        record = enqueue(community, 1)[0]
    # The producer's transaction committed; the row waits for the sweep.
    assert OutboxRecord.objects.get(pk=record.pk).status == OutboxRecord.Status.PENDING
    assert outbox.due_pairs() == [(community.pk, Endpoint.PASS_RECORD)]



@pytest.mark.parametrize("maker", [pass_record, car_snapshot])
def test_it_encodes_a_record_as_the_contracts_json_with_its_images_in_base64(community, maker) -> None:
    import base64

    from uploads import contract

    record = enqueue(community, 1, maker)[0]
    encoded = json.loads(outbox.encode_record(record, community))
    expected = contract.city_record(record.endpoint, record.all_fields, community_id=community.city_id,
                                    record_id=record.pk)
    for name, path in record.images.items():
        with default_storage.open(path, "rb") as handle:
            expected[name] = base64.b64encode(handle.read()).decode()
    assert record.images and encoded == expected
