"""Link monitoring: the admin pages (scoped to the user's communities) and the alerts to technical
support when a link goes down and comes back, with a real worker against the sandbox."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from communities.models import SupportContact
from tests.factories import CommunityFactory, SiteCredentialFactory
from tests.processes import start_worker
from uploads.models import Endpoint, LinkState, OutboxRecord
from uploads.testing import enqueue_mixed, pass_record


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add_rows(community, status: str, count: int, **extra) -> None:
    for n in range(count):
        fields, _images = pass_record(community, n)
        OutboxRecord.objects.create(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields,
                                    status=status, **extra)


def test_it_shows_each_user_only_their_communities(alice, charlie, root, community_a, community_b):
    add_rows(community_a, OutboxRecord.Status.PENDING, 3)
    add_rows(community_b, OutboxRecord.Status.DEAD, 2, last_error="_500 injected")
    url = reverse("admin:uploads_link_overview")
    page = login(alice).get(url).content.decode()
    assert community_a.city_id in page and community_b.city_id not in page
    page = login(root).get(url).content.decode()
    # Worst first: B has dead letters, A only a fresh backlog.
    assert page.index(community_b.city_id) < page.index(community_a.city_id)
    assert login(charlie).get(reverse("admin:uploads_link_detail", args=[community_a.pk])).status_code == 404
    detail = login(alice).get(reverse("admin:uploads_link_detail", args=[community_a.pk])).content.decode()
    assert 'class="backlog">3<' in detail


def test_it_retries_dead_letters_in_bulk_from_the_admin(alice, community_a, community_b):
    add_rows(community_a, OutboxRecord.Status.DEAD, 3, last_error="_500 bad field", attempts=50)
    add_rows(community_b, OutboxRecord.Status.DEAD, 2, last_error="_500 bad field", attempts=50)
    ids = list(OutboxRecord.objects.values_list("id", flat=True))
    response = login(alice).post(reverse("admin:uploads_outboxrecord_changelist"),
                                 {"action": "retry_dead_letters", "_selected_action": ids})
    assert response.status_code == 302
    # Only Alice's community: B's rows are outside her scope even when their ids are posted.
    retried = OutboxRecord.objects.filter(status=OutboxRecord.Status.PENDING)
    assert set(retried.values_list("community_id", flat=True)) == {community_a.pk}
    assert retried.count() == 3 and all(r.attempts == 0 and r.requeued_at for r in retried)
    assert retried.first().last_error.startswith("retried by alice; was: _500 bad field")
    assert OutboxRecord.objects.filter(community=community_b, status=OutboxRecord.Status.DEAD).count() == 2


def test_it_masks_id_numbers_in_the_record_page(alice, community_a):
    record = OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.FACE_SNAPSHOT,
                                         fields={"idNumber": "510104199001011230", "passType": 0},
                                         last_error="_500 record 0: idNumber 510104199001011230 unknown")
    LinkState.objects.create(community=community_a, last_error=record.last_error)
    for url in (reverse("admin:uploads_outboxrecord_change", args=[record.pk]),
                reverse("admin:uploads_outboxrecord_changelist"),
                reverse("admin:uploads_link_detail", args=[community_a.pk]),
                reverse("admin:uploads_link_overview")):
        page = login(alice).get(url).content.decode()
        assert "510104199001011230" not in page and "5101" in page, url


def test_it_lets_staff_resume_a_halted_community(alice, community_a):
    community_a.uploads_halted_reason = "city refused the credentials: invalid_grant Bad credentials"
    community_a.uploads_halted_at = timezone.now()
    community_a.save()
    url = reverse("admin:uploads_link_detail", args=[community_a.pk])
    assert "invalid_grant" in login(alice).get(url).content.decode()
    login(alice).post(url, {"action": "resume"})
    community_a.refresh_from_db()
    assert community_a.uploads_halted_reason == ""


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_alerts_once_when_the_link_goes_down_and_once_when_it_comes_back(sandbox_city, output_dir, settings):
    from tests.factories import MembershipFactory, UserFactory

    # The page decides the state by the same rule and the same setting as the worker's link checks.
    settings.LINK_DOWN_AFTER_SECONDS = 5

    community = CommunityFactory(city_id="CITY-LINK")
    SiteCredentialFactory(community=community)
    SupportContact.objects.create(community=community, name="技术支持小李", phone="13800000000",
                                  email="support@example.com")
    staff = MembershipFactory(user=UserFactory(username="dora"), community=community).user
    sandbox_city.set_faults({"503": 1.0})
    mail_dir = output_dir / "mail"
    shutil.rmtree(mail_dir, ignore_errors=True)  # output_dir outlives a run
    worker = start_worker(
        output_dir, beat=True, CITY_PLATFORM_BASE_URL=sandbox_city.url, UPLOAD_RETRY_BASE_SECONDS="0.5",
        UPLOAD_RETRY_MAX_SECONDS="1", UPLOAD_SWEEP_SECONDS="1", LINK_CHECK_SECONDS="1",
        # Longer than a gap between two successes while the backlog drains on a loaded 2-core machine (a
        # retry's backoff plus a sweep), or the link honestly flaps down and up again during the drain.
        LINK_DOWN_AFTER_SECONDS="5", LINK_ALERT_WEBHOOK_URL=f"{sandbox_city.url}/_sandbox/webhook",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(mail_dir))
    page_url = reverse("admin:uploads_link_detail", args=[community.pk])
    try:
        with transaction.atomic():
            enqueue_mixed(community, 30)
        hooks = wait_for_webhooks(sandbox_city, 1)
        assert hooks[0]["state"] == "down" and hooks[0]["communityId"] == "CITY-LINK"
        down_page = login(staff).get(page_url).content.decode()
        (output_dir / "down.html").write_text(down_page)
        assert "afxq-bad link-state" in down_page and "HTTP 503" in down_page
        sandbox_city.set_faults({})
        hooks = wait_for_webhooks(sandbox_city, 2)
        assert hooks[1]["state"] == "up"
        # "Up" comes with the first success; let the rest of the backlog go before looking at the page.
        deadline = time.monotonic() + 60
        while OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists():
            assert time.monotonic() < deadline, "the backlog did not drain after recovery"
            time.sleep(0.3)
        time.sleep(3)  # more link checks: no further alert while it stays up
        assert len(sandbox_city.webhooks()) == 2
    finally:
        worker.stop()
    up_page = login(staff).get(page_url).content.decode()
    (output_dir / "up.html").write_text(up_page)
    assert "afxq-ok link-state" in up_page and 'class="backlog">0<' in up_page
    assert len(sandbox_city.records()) == 30
    mails = sorted(mail_dir.iterdir())
    assert len(mails) == 2
    texts = [m.read_text() for m in mails]
    assert all("support@example.com" in t for t in texts)
    state = LinkState.objects.get(community=community)
    assert state.alert_state == LinkState.Alert.UP and state.alerts_sent == 2
    assert state.last_success_at > timezone.now() - timedelta(minutes=1)


def wait_for_webhooks(sandbox, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hooks = sandbox.webhooks()
        if len(hooks) >= count:
            return hooks
        time.sleep(0.3)
    pytest.fail(f"{count} webhook(s) expected, got {sandbox.webhooks()}; outbox "
                f"{list(OutboxRecord.objects.values_list('status', 'last_error')[:3])}")


def test_it_does_not_call_the_city_link_down_for_a_stuck_registration_callback(community_a, settings):
    from uploads.alerts import check_link

    settings.LINK_DOWN_AFTER_SECONDS = 60
    an_hour_ago = timezone.now() - timedelta(hours=1)
    OutboxRecord.objects.create(community=community_a, endpoint=Endpoint.REGISTRATION_CALLBACK,
                                fields={"ywlsh": "YW1"}, created_at=an_hour_ago)
    assert check_link(community_a) == LinkState.Alert.UP
    add_rows(community_a, OutboxRecord.Status.PENDING, 1, created_at=an_hour_ago)
    assert check_link(community_a) == LinkState.Alert.DOWN
