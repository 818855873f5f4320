"""Link health that tells the truth: one rule (uploads.monitoring.link_state) for healthy, degraded, down and
halted, shown the same on the link pages, the community list, the link-state admin and by the alerts; and a
held-back record says why on its own page. The last test goes through the sandbox city over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import SiteCredentialFactory
from uploads import alerts, client, monitoring, outbox
from uploads.models import Endpoint, LinkState, OutboxRecord
from uploads.monitoring import Health, link_state
from uploads.services import enqueue_record
from uploads.testing import pass_record

NOW = timezone.now()


def at(seconds_ago: float) -> datetime:
    return NOW - timedelta(seconds=seconds_ago)


def state(**given: object) -> Health:
    figures = {"halted": False, "last_success_at": None, "last_error_at": None, "backlog": 0, "oldest": None,
               "retrying": 0, "now": NOW, **given}
    return link_state(**figures)


@pytest.fixture
def down_after(settings) -> int:
    settings.LINK_DOWN_AFTER_SECONDS = 600
    return 600


def test_it_calls_a_quiet_link_healthy(down_after) -> None:
    assert state() is Health.HEALTHY
    assert state(last_success_at=at(3600)) is Health.HEALTHY  # nothing to send for an hour is not a fault


def test_it_calls_a_fresh_backlog_on_a_quiet_link_healthy(down_after) -> None:
    # A record made a second ago on a link whose last success was yesterday: nothing has failed yet.
    assert state(last_success_at=at(86400), backlog=1, oldest=at(1)) is Health.HEALTHY


def test_it_calls_the_link_degraded_from_the_first_failed_request(down_after) -> None:
    assert state(last_success_at=at(60), last_error_at=at(1), backlog=3, oldest=at(2), retrying=3) is Health.DEGRADED
    assert state(last_error_at=at(1)) is Health.DEGRADED  # never a success, one failure


def test_it_stays_degraded_while_failed_records_wait_after_a_success(down_after) -> None:
    assert state(last_success_at=at(1), last_error_at=at(5), backlog=2, oldest=at(30), retrying=1) is Health.DEGRADED


def test_it_calls_the_link_healthy_at_the_first_success_with_an_empty_backlog(down_after) -> None:
    assert state(last_success_at=at(0.001), last_error_at=at(1)) is Health.HEALTHY
    # A backlog of records that never failed does not hold the state back either.
    assert state(last_success_at=at(0.001), last_error_at=at(1), backlog=5, oldest=at(2)) is Health.HEALTHY


def test_it_calls_the_link_down_after_no_success_for_the_configured_time_with_a_backlog(down_after) -> None:
    assert state(last_success_at=at(down_after + 1), last_error_at=at(1), backlog=1, oldest=at(down_after + 5),
                 retrying=1) is Health.DOWN
    assert state(last_error_at=at(1), backlog=1, oldest=at(down_after + 1), retrying=1) is Health.DOWN
    # Just within the time: still degraded.
    assert state(last_success_at=at(down_after - 1), last_error_at=at(1), backlog=1, oldest=at(down_after + 5),
                 retrying=1) is Health.DEGRADED
    # No backlog: nothing is stuck, so not down however old the last success.
    assert state(last_success_at=at(10 * down_after), last_error_at=at(1)) is Health.DEGRADED


def test_it_calls_a_community_with_refused_credentials_halted_whatever_else(down_after) -> None:
    assert state(halted=True) is Health.HALTED
    assert state(halted=True, last_success_at=at(0), backlog=9, oldest=at(down_after * 2), retrying=9) is Health.HALTED


def test_it_walks_the_transitions_of_one_incident(down_after) -> None:
    sequence = [
        state(last_success_at=at(900)),  # quiet
        state(last_success_at=at(900), backlog=1, oldest=at(5)),  # a record is made
        state(last_success_at=at(900), last_error_at=at(4), backlog=1, oldest=at(5), retrying=1),  # it fails
        state(last_success_at=at(900), last_error_at=at(4), backlog=1, oldest=at(down_after + 5), retrying=1),
        state(last_success_at=at(0), last_error_at=at(4), backlog=0),  # first success, backlog empty
    ]
    assert sequence == [Health.HEALTHY, Health.HEALTHY, Health.DEGRADED, Health.DOWN, Health.HEALTHY]


def add_rows(community, count: int, **extra: object) -> list[OutboxRecord]:
    return [OutboxRecord.objects.create(community=community, endpoint=Endpoint.PASS_RECORD,
                                        fields=pass_record(community, n)[0], **extra) for n in range(count)]


def pages_say(user, community) -> dict[str, str]:
    """The state each page shows for the community: link overview, link page, community list, link-state list."""
    browser = Client()
    browser.force_login(user)
    found = {}
    for name, url in [("overview", reverse("admin:uploads_link_overview")),
                      ("detail", reverse("admin:uploads_link_detail", args=[community.pk])),
                      ("communities", reverse("admin:communities_community_changelist")),
                      ("link states", reverse("admin:uploads_linkstate_changelist"))]:
        page = browser.get(url).content.decode()
        states = re.findall(r'data-state="(\w+)"', page)
        found[name] = states[0] if states else "none"
    return found


def test_it_shows_the_same_state_on_every_page_and_in_the_alerts(alice, community_a, down_after) -> None:
    LinkState.objects.create(community=community_a, last_success_at=at(60), last_error_at=at(5), last_error="HTTP 503")
    add_rows(community_a, 2, attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=30))
    assert set(pages_say(alice, community_a).values()) == {"degraded"}
    assert alerts.check_link(community_a) == LinkState.Alert.UP  # degraded is no incident yet

    OutboxRecord.objects.update(created_at=at(down_after + 60))
    LinkState.objects.update(last_success_at=at(down_after + 30))
    assert set(pages_say(alice, community_a).values()) == {"down"}
    assert alerts.check_link(community_a) == LinkState.Alert.DOWN

    OutboxRecord.objects.update(status=OutboxRecord.Status.SENT, sent_at=timezone.now())
    LinkState.objects.update(last_success_at=timezone.now())
    assert set(pages_say(alice, community_a).values()) == {"healthy"}
    assert alerts.check_link(community_a) == LinkState.Alert.UP

    community_a.uploads_halted_reason = "invalid_grant Bad credentials"
    community_a.uploads_halted_at = timezone.now()
    community_a.save()
    assert set(pages_say(alice, community_a).values()) == {"halted"}


def test_it_shows_the_states_in_chinese(alice, community_a) -> None:
    browser = Client()
    browser.force_login(alice)
    LinkState.objects.create(community=community_a, last_error_at=timezone.now(), last_error="HTTP 503")
    page = browser.get(reverse("admin:uploads_link_detail", args=[community_a.pk])).content.decode()
    assert "降级" in page
    LinkState.objects.update(last_success_at=timezone.now())
    assert "健康" in browser.get(reverse("admin:communities_community_changelist")).content.decode()


def test_it_says_on_a_held_back_records_page_why_in_chinese(alice, community_a) -> None:
    browser = Client()
    browser.force_login(alice)
    waiting, = add_rows(community_a, 1, attempts=2, last_error="HTTP 503: Service Unavailable",
                        next_attempt_at=datetime(2030, 5, 1, 4, 0, 0, tzinfo=UTC))
    dead, = add_rows(community_a, 1, status=OutboxRecord.Status.DEAD, attempts=50, last_error="_500 bad idNumber")

    def reason(record: OutboxRecord) -> str:
        return browser.get(reverse("admin:uploads_outboxrecord_change", args=[record.pk])).content.decode()

    assert "退避等待至 2030-05-01 12:00:00" in reason(waiting)  # 04:00 UTC is noon in Chengdu
    assert "死信，原因：_500 bad idNumber" in reason(dead)
    community_a.uploads_halted_reason = "invalid_grant Bad credentials"
    community_a.uploads_halted_at = datetime(2030, 5, 1, 1, 30, tzinfo=UTC)
    community_a.save()
    assert "已暂停：城市平台于 2030-05-01 09:30:00 拒绝了授权账号" in reason(waiting)


@pytest.mark.integration
def test_it_is_degraded_after_one_failed_request_and_healthy_at_the_first_success_with_an_empty_backlog(
        alice, community_a, sandbox_city, settings) -> None:
    settings.CITY_PLATFORM_BASE_URL = sandbox_city.url
    settings.UPLOAD_BATCH_SIZE = 1  # one record per request: the second record's success comes first
    SiteCredentialFactory(community=community_a)
    client.token_store().drop(community_a.pk, client.token_store().get(community_a.pk) or "")
    for n in range(2):
        fields, images = pass_record(community_a, n)
        enqueue_record(community=community_a, endpoint=Endpoint.PASS_RECORD, fields=fields, images=images)
    assert monitoring.link_of(community_a).health is Health.HEALTHY

    sandbox_city.set_faults({"503": 1.0})
    assert outbox.drain_once(community_a.pk, Endpoint.PASS_RECORD) is outbox.Outcome.FAILED
    assert monitoring.link_of(community_a).health is Health.DEGRADED  # one failed request is enough
    by_endpoint = {e.endpoint: e.health for e in monitoring.link_of(community_a).endpoints}
    assert by_endpoint[Endpoint.PASS_RECORD] is Health.DEGRADED
    assert by_endpoint[Endpoint.FACE_SNAPSHOT] is Health.HEALTHY  # nothing of its own waits or failed
    assert set(pages_say(alice, community_a).values()) == {"degraded"}

    sandbox_city.set_faults({})
    assert outbox.drain_once(community_a.pk, Endpoint.PASS_RECORD) is outbox.Outcome.SENT  # the other record
    # A success, but the failed record still waits for its backoff: we are still retrying.
    assert monitoring.link_of(community_a).health is Health.DEGRADED
    OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).update(next_attempt_at=timezone.now())
    assert outbox.drain_once(community_a.pk, Endpoint.PASS_RECORD) is outbox.Outcome.SENT
    assert not OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists()
    assert monitoring.link_of(community_a).health is Health.HEALTHY  # at once, not a check later
    assert set(pages_say(alice, community_a).values()) == {"healthy"}
    assert len(sandbox_city.records(Endpoint.PASS_RECORD)) == 2
