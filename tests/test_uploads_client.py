"""The city client at its edge (`responses` for the HTTP calls): the shared token, one login at a
time, `_401` in both styles, and bad credentials stopping a community."""

from __future__ import annotations

import json
import threading
import time

import pytest
import responses
from django.core import mail
from django.test import override_settings

from communities.models import SupportContact
from tests.factories import SiteCredentialFactory
from uploads import client, outbox
from uploads.models import Endpoint, OutboxRecord
from uploads.services import enqueue_record
from uploads.testing import pass_record

CITY = "http://city.test"
TOKEN_URL = f"{CITY}/oauth/token"
PASS_URL = f"{CITY}/api/platform/person-inout-info"
OK = {"timestamp": 1, "data": None, "responseCode": "_200", "errorMsg": None}
UNAUTHORIZED = {"timestamp": 1, "data": None, "responseCode": "_401", "errorMsg": "invalid_token"}

pytestmark = pytest.mark.usefixtures("city_settings")


@pytest.fixture
def city_settings(settings):
    settings.CITY_PLATFORM_BASE_URL = CITY
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def community(community_a):
    SiteCredentialFactory(community=community_a)
    SupportContact.objects.create(community=community_a, name="小李", phone="13800000000", email="li@example.com")
    # Each test starts with no cached token (the Redis cache outlives a test's database).
    client.token_store().drop(community_a.pk, client.token_store().get(community_a.pk) or "")
    return community_a


def token_answer(token: str, expires_in: int = 3600) -> dict:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "read write"}


def enqueue(community, count: int = 3) -> list[OutboxRecord]:
    return [enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, images=images, fields=fields)
            for fields, images in (pass_record(community, n) for n in range(count))]


@responses.activate
def test_it_logs_in_once_and_shares_the_token(community):
    login = responses.post(TOKEN_URL, json=token_answer("t-1"))
    assert client.get_token(community) == "t-1"
    assert client.get_token(community) == "t-1"
    assert login.call_count == 1
    form = dict(pair.split("=") for pair in login.calls[0].request.body.split("&"))
    assert form == {"grant_type": "password", "client_id": "client", "client_secret": "client-secret",
                    "username": "site-user", "password": "site-password"}


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_it_waits_for_the_process_that_is_logging_in(community):
    from django.db import connection

    store = client.token_store()
    assert store.lock(community.pk)  # another process is logging in

    def other_process_finishes() -> None:
        store.put(community.pk, "from-the-other-process", 3600)
        connection.close()

    timer = threading.Timer(0.3, other_process_finishes)
    timer.start()
    try:
        # No token URL is registered: a login from here would fail the test.
        assert client.get_token(community, wait_seconds=5) == "from-the-other-process"
    finally:
        timer.cancel()
        store.unlock(community.pk)


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_it_gives_up_waiting_for_a_stuck_login(community):
    assert client.token_store().lock(community.pk)
    with pytest.raises(client.TransientError, match="logging in"):
        client.get_token(community, wait_seconds=0.2)


@pytest.mark.parametrize("http_status", [200, 401])
@responses.activate
def test_it_logs_in_again_and_resends_once_after_a_401(community, http_status):
    enqueue(community)
    responses.post(TOKEN_URL, json=token_answer("old"))
    responses.post(TOKEN_URL, json=token_answer("new"))
    upload = responses.post(PASS_URL, json=UNAUTHORIZED, status=http_status)
    upload_ok = responses.post(PASS_URL, json=OK)
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.SENT
    assert upload.calls[0].request.headers["Authorization"] == "Bearer old"
    assert upload_ok.calls[0].request.headers["Authorization"] == "Bearer new"
    assert upload.calls[0].request.body == upload_ok.calls[0].request.body  # the same batch, resent
    assert OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT).count() == 3


@responses.activate
def test_it_treats_a_second_401_in_a_row_as_a_failure(community):
    enqueue(community)
    responses.post(TOKEN_URL, json=token_answer("a"))
    responses.post(TOKEN_URL, json=token_answer("b"))
    responses.post(PASS_URL, json=UNAUTHORIZED)
    responses.post(PASS_URL, json=UNAUTHORIZED, status=401)
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.FAILED
    rows = OutboxRecord.objects.all()
    assert {r.status for r in rows} == {OutboxRecord.Status.PENDING}
    assert all("_401 twice" in r.last_error and r.attempts == 1 for r in rows)


@responses.activate
def test_it_halts_a_community_whose_credentials_are_refused(community):
    enqueue(community)
    login = responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Bad credentials"})
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.HALTED
    community.refresh_from_db()
    # The city's code beside its meaning, in the site's language (issue 14).
    assert "invalid_grant" in community.uploads_halted_reason and "账号或密码错误" in community.uploads_halted_reason
    # The rows wait untouched (no attempt counted) and nobody logs in again while halted.
    assert all(r.status == OutboxRecord.Status.PENDING and r.attempts == 0 for r in OutboxRecord.objects.all())
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.HALTED
    assert outbox.due_pairs() == []
    assert login.call_count == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["li@example.com"]
    assert community.city_id in mail.outbox[0].body


@responses.activate
def test_it_resumes_when_the_credentials_are_changed(community):
    enqueue(community)
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Bad credentials"})
    outbox.drain_once(community.pk, Endpoint.PASS_RECORD)
    time.sleep(0.01)
    credential = community.site_credential
    credential.password = "corrected"
    credential.save()
    responses.post(TOKEN_URL, json=token_answer("good"))
    responses.post(PASS_URL, json=OK)
    community.refresh_from_db()
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.SENT
    community.refresh_from_db()
    assert community.uploads_halted_reason == ""


@pytest.mark.parametrize("answer", [
    {"status": 502, "body": "<html>Bad Gateway</html>"},
    {"status": 200, "json": {"responseCode": "_500", "errorMsg": "database busy"}},
    {"body": __import__("requests").ConnectionError("reset by peer")},
    {"body": __import__("requests").ReadTimeout("read timed out")},
])
@responses.activate
def test_it_retries_failures_later_with_backoff(community, answer, settings):
    settings.UPLOAD_RETRY_BASE_SECONDS = 10
    enqueue(community, 1)  # alone: a `_500` for several records would halve the batch first (see test_uploads_outbox)
    responses.post(TOKEN_URL, json=token_answer("t"))
    responses.post(PASS_URL, **answer)
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.FAILED
    rows = list(OutboxRecord.objects.all())
    assert all(r.status == OutboxRecord.Status.PENDING and r.attempts == 1 and r.last_error for r in rows)
    from django.utils import timezone

    delays = [(r.next_attempt_at - timezone.now()).total_seconds() for r in rows]
    assert all(4 < d <= 10 for d in delays)  # half to all of the base delay on the first failure
    assert outbox.drain_once(community.pk, Endpoint.PASS_RECORD) is outbox.Outcome.EMPTY  # not due yet


@responses.activate
def test_it_sends_the_contract_fields_with_plain_base64_images(community):
    record = enqueue(community, 1)[0]
    responses.post(TOKEN_URL, json=token_answer("t"))
    upload = responses.post(PASS_URL, json=OK)
    outbox.drain_once(community.pk, Endpoint.PASS_RECORD)
    sent = json.loads(upload.calls[0].request.body)
    assert upload.calls[0].request.headers["Content-Type"].startswith("application/json")
    assert len(sent) == 1
    fields = sent[0]
    assert fields["source"] == "THIRDPARTY_CLIENT" and fields["way"] == "FACE"
    assert fields["outId"] == record.fields["outId"]
    assert not fields["imageBase64"].startswith("data:")
    import base64

    assert base64.b64decode(fields["bigImageBase64"])[:3] == b"\xff\xd8\xff"  # a JPEG


@override_settings(REDIS_URL="")
def test_it_keeps_the_token_encrypted_in_the_database_without_redis(community):
    store = client.DatabaseTokenStore()
    store.put(community.pk, "secret-token", 3600)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM uploads_linkstate WHERE community_id = %s", [community.pk])
        raw = cursor.fetchone()[0]
    assert "secret-token" not in raw
    assert store.get(community.pk) == "secret-token"
    store.drop(community.pk, "another-token")  # someone else's stale token: ours stays
    assert store.get(community.pk) == "secret-token"
    store.drop(community.pk, "secret-token")
    assert store.get(community.pk) is None


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_it_logs_in_once_when_many_workers_find_no_token_at_once(community):
    from django.db import connection

    def slow_login(request):
        time.sleep(0.3)  # the city takes its time: everyone else arrives meanwhile
        return 200, {}, json.dumps(token_answer("shared"))

    login = responses.add_callback(responses.POST, TOKEN_URL, callback=slow_login)
    tokens: list[str] = []

    def worker() -> None:
        try:
            tokens.append(client.get_token(community, wait_seconds=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert tokens == ["shared"] * 12
    assert login.call_count == 1


def test_it_shows_a_gateways_error_page_as_its_text_without_markup() -> None:
    import requests

    page = requests.Response()
    page.status_code, page.headers["Content-Type"] = 503, "text/html; charset=utf-8"
    page._content = "<html><head><title>503</title></head>\n<body><h1>网关错误</h1>\n  <p>稍后再试</p></body></html>".encode()
    assert client.answer_text(page) == "503 网关错误 稍后再试"
    plain = requests.Response()
    plain.status_code, plain._content = 502, b"upstream\n timed out"
    assert client.answer_text(plain) == "upstream timed out"
