"""Delivery to the sandbox city with real Celery worker processes: nothing lost, batches within the
contract, every field as the contract says, and the same under faults, token expiry, killed workers
and a flushed broker."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from tests.factories import CommunityFactory, SiteCredentialFactory
from tests.processes import start_worker
from uploads.models import Endpoint, OutboxRecord
from uploads.testing import enqueue_mixed

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Fast clocks for the tests: quick backoff, sweep and lease; a read timeout shorter than "slow".
FAST = {"UPLOAD_RETRY_BASE_SECONDS": "0.2", "UPLOAD_RETRY_MAX_SECONDS": "1", "UPLOAD_SWEEP_SECONDS": "1",
        "UPLOAD_LEASE_SECONDS": "6", "UPLOAD_READ_TIMEOUT": "2", "UPLOAD_DRAIN_BUDGET_SECONDS": "10",
        "LINK_CHECK_SECONDS": "1"}

KEY = {Endpoint.PASS_RECORD: "outId", Endpoint.FACE_SNAPSHOT: "personName", Endpoint.CAR_SNAPSHOT: "licensePlate"}


def worker(output_dir: Path, sandbox, name: str = "worker", **extra: str):
    return start_worker(output_dir, name=name, beat=True, CITY_PLATFORM_BASE_URL=sandbox.url, **{**FAST, **extra})


def community_with_credentials(**kwargs):
    community = CommunityFactory(**kwargs)
    SiteCredentialFactory(community=community)
    return community


def expected_keys(community, count: int, start: int = 0) -> dict[str, set[str]]:
    from uploads.testing import MAKERS

    cycle = [Endpoint.PASS_RECORD] * 6 + [Endpoint.FACE_SNAPSHOT] * 2 + [Endpoint.CAR_SNAPSHOT] * 2
    keys: dict[str, set[str]] = {e: set() for e in KEY}
    for n in range(start, start + count):
        endpoint = cycle[n % 10]
        fields, _images = MAKERS[endpoint](community, n)
        keys[endpoint].add(str(fields[KEY[endpoint]]))
    return keys


def received(sandbox) -> dict[str, Counter]:
    return {e: Counter(str(r["fields"][KEY[e]]) for r in sandbox.records(e)) for e in KEY}


def wait_until_all_arrive(sandbox, expected: dict[str, set[str]], timeout: float) -> dict[str, Counter]:
    deadline = time.monotonic() + timeout
    while True:
        got = received(sandbox)
        missing = {e: expected[e] - set(got[e]) for e in KEY}
        if not any(missing.values()):
            return got
        if time.monotonic() > deadline:
            statuses = Counter(OutboxRecord.objects.values_list("status", flat=True))
            errors = set(OutboxRecord.objects.exclude(last_error="").values_list("last_error", flat=True)[:5])
            pytest.fail(f"missing {[(e, len(m)) for e, m in missing.items()]} after {timeout}s; outbox {statuses}; "
                        f"errors {errors}; sandbox {sandbox.stats()}")
        time.sleep(0.5)


def wait_until_drained(timeout: float = 60) -> None:
    """Everything arrived, but a row whose stored batch lost its answer (or whose worker was killed)
    is sent again after its backoff or lease: wait for the outbox to settle."""
    deadline = time.monotonic() + timeout
    while OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists():
        if time.monotonic() > deadline:
            pytest.fail(f"outbox not drained: {Counter(OutboxRecord.objects.values_list('status', flat=True))}")
        time.sleep(0.3)


def assert_contract_batches(sandbox) -> None:
    batches = sandbox.batches()
    assert batches, "the sandbox stored no batch"
    assert max(b["count"] for b in batches) <= 50


def test_it_delivers_ten_thousand_mixed_records_without_loss(sandbox_city, output_dir):
    a = community_with_credentials(city_id="CITY-A")
    b = community_with_credentials(city_id="CITY-B")
    started = time.monotonic()
    with transaction.atomic():
        enqueue_mixed(a, 5000)
    with transaction.atomic():
        enqueue_mixed(b, 5000, start=5000)
    enqueued_seconds = time.monotonic() - started
    expected = expected_keys(a, 5000)
    for endpoint, keys in expected_keys(b, 5000, start=5000).items():
        expected[endpoint] |= keys
    assert sum(len(k) for k in expected.values()) == 10_000

    w = worker(output_dir, sandbox_city)
    try:
        started = time.monotonic()
        got = wait_until_all_arrive(sandbox_city, expected, timeout=400)
        delivered_seconds = time.monotonic() - started
    finally:
        w.stop()

    assert {e: set(c) for e, c in got.items()} == expected
    assert_contract_batches(sandbox_city)
    # Nothing failed on the way, so nothing came twice.
    assert all(n == 1 for c in got.values() for n in c.values())
    assert OutboxRecord.objects.filter(status=OutboxRecord.Status.SENT).count() == 10_000
    # Every field as the contract says: the sandbox rejects any batch that breaks a rule.
    assert sandbox_city.stats()["rejected"] == 0
    sample = sandbox_city.records(Endpoint.PASS_RECORD)[0]["fields"]
    assert set(sample) == {"outId", "way", "openDate", "communityId", "type", "userId", "policePointId", "inout",
                           "source", "imageBase64", "bigImageBase64"}
    assert sample["imageBase64"]["size"] == [800, 600]
    car = sandbox_city.records(Endpoint.CAR_SNAPSHOT)[0]["fields"]
    assert isinstance(car["licensePlateType"], int)  # CITY_PLATE_TYPE_FORMAT defaults to a number
    (output_dir / "figures.txt").write_text(
        f"enqueue 10000: {enqueued_seconds:.1f}s; deliver: {delivered_seconds:.1f}s; "
        f"batches: {len(sandbox_city.batches())}; db: {settings.DATABASES['default']['ENGINE']}\n")


def duplicates_are_explained(sandbox, got: dict[str, Counter]) -> None:
    """A record may arrive twice only if a batch it was in was stored and its answer lost."""
    lost_batches = {b["id"] for b in sandbox.batches() if b["answer_lost"]}
    for endpoint, counter in got.items():
        twice = {k for k, n in counter.items() if n > 1}
        for record in sandbox.records(endpoint):
            key = str(record["fields"][KEY[endpoint]])
            if key in twice and record["batch"] in lost_batches:
                twice.discard(key)
        assert not twice, f"{endpoint}: duplicates with no lost answer: {sorted(twice)[:5]}"


def test_it_delivers_everything_through_faults_and_expiring_tokens(sandbox_city, output_dir):
    community = community_with_credentials(city_id="CITY-F")
    sandbox_city.configure(token_lifetime=2, slow_seconds=3)
    # Batches of 10 so that each fault mode meets enough requests.
    w = worker(output_dir, sandbox_city, UPLOAD_BATCH_SIZE="10")
    expected: dict[str, set[str]] = {e: set() for e in KEY}
    try:
        modes = ["expired_200", "expired_401", "_500", "502", "503", "slow", "drop", "drop_after"]
        for index, mode in enumerate(modes):
            sandbox_city.set_faults({mode: 0.2})
            with transaction.atomic():
                enqueue_mixed(community, 150, start=index * 150)
            for endpoint, keys in expected_keys(community, 150, start=index * 150).items():
                expected[endpoint] |= keys
            wait_until_all_arrive(sandbox_city, expected, timeout=180)
        sandbox_city.set_faults({})
        wait_until_drained()
        got = received(sandbox_city)
    finally:
        w.stop()
    assert {e: set(c) for e, c in got.items()} == expected
    assert_contract_batches(sandbox_city)
    duplicates_are_explained(sandbox_city, got)
    stats = sandbox_city.stats()
    assert stats["unauthorized_answers"] > 0 and stats["logins"] > 1
    assert OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).count() == 0
    (output_dir / "figures.txt").write_text(f"sandbox: {stats}\n")


def flush_broker() -> str:
    """Lose every queued message, as a broker restart without persistence would."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        removed = 0
        for message in queue.iterdir():
            message.unlink(missing_ok=True)
            removed += 1
        return f"deleted {removed} message files from {queue}"
    import redis

    client = redis.Redis.from_url(url)
    # Only this run's queue: other runs may share the Redis database.
    removed = client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    return f"deleted redis key {settings.CELERY_TASK_DEFAULT_QUEUE} ({removed})"


def test_it_survives_a_sigkilled_worker_and_a_flushed_broker(sandbox_city, output_dir):
    community = community_with_credentials(city_id="CITY-K")
    with transaction.atomic():
        enqueue_mixed(community, 1500)
    expected = expected_keys(community, 1500)
    # Slow answers (read timeout 5 s > 1 s wait) keep batches in flight long enough to kill a worker mid-batch.
    sandbox_city.configure(slow_seconds=1)
    sandbox_city.set_faults({"slow": 1.0})
    first = worker(output_dir, sandbox_city, name="first", UPLOAD_READ_TIMEOUT="5")
    deadline = time.monotonic() + 60
    while not OutboxRecord.objects.filter(status=OutboxRecord.Status.IN_FLIGHT).exists():
        assert time.monotonic() < deadline, "no batch went in flight"
        time.sleep(0.1)
    first.kill()  # SIGKILL to the whole group: the worker, its pool children and its beat
    in_flight = OutboxRecord.objects.filter(status=OutboxRecord.Status.IN_FLIGHT).count()
    assert in_flight > 0
    flushed = flush_broker()
    sandbox_city.set_faults({})
    second = worker(output_dir, sandbox_city, name="second")
    try:
        # Mid-run, the broker loses everything again.
        time.sleep(2)
        flushed += "; " + flush_broker()
        wait_until_all_arrive(sandbox_city, expected, timeout=240)
        wait_until_drained()
        got = received(sandbox_city)
    finally:
        second.stop()
    assert {e: set(c) for e, c in got.items()} == expected
    assert OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).count() == 0
    (output_dir / "figures.txt").write_text(f"in flight when killed: {in_flight}; {flushed}\n")


def test_it_stops_a_community_with_bad_credentials_and_keeps_the_others_flowing(sandbox_city, output_dir):
    good = community_with_credentials(city_id="CITY-GOOD")
    bad = CommunityFactory(city_id="CITY-BAD")
    SiteCredentialFactory(community=bad, password="wrong-password")
    from communities.models import SupportContact

    SupportContact.objects.create(community=bad, name="小李", phone="13800000000", email="li@example.com")
    with transaction.atomic():
        enqueue_mixed(bad, 200)
        enqueue_mixed(good, 300, start=1000)
    shutil.rmtree(output_dir / "mail", ignore_errors=True)
    w = worker(output_dir, sandbox_city, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
               EMAIL_FILE_PATH=str(output_dir / "mail"))
    try:
        got = wait_until_all_arrive(sandbox_city, expected_keys(good, 300, start=1000), timeout=120)
        time.sleep(3)  # several sweeps: the bad community must not hammer the login
        failures = sandbox_city.stats()["login_failures"]
        time.sleep(3)
        assert sandbox_city.stats()["login_failures"] == failures
    finally:
        w.stop()
    assert sum(sum(c.values()) for c in got.values()) == 300
    bad.refresh_from_db()
    assert "invalid_grant" in bad.uploads_halted_reason  # the city's code, beside its meaning in Chinese
    assert failures == 1
    assert OutboxRecord.objects.filter(community=bad, status=OutboxRecord.Status.PENDING).count() == 200
    mails = "".join(p.read_text() for p in (output_dir / "mail").iterdir())
    assert "li@example.com" in mails and bad.city_id in mails


def test_it_dead_letters_a_record_the_city_refuses_and_delivers_its_neighbours(sandbox_city, output_dir):
    import io

    from PIL import Image

    from uploads.services import enqueue_record
    from uploads.testing import pass_record

    community = community_with_credentials(city_id="CITY-P")
    noise = Image.merge("RGB", [Image.effect_noise((800, 600), 80) for _ in range(3)])
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=95)
    assert len(buffer.getvalue()) > 100 * 1024  # over the city's limit for a pass-record image
    with transaction.atomic():
        enqueue_mixed(community, 300)
        fields, images = pass_record(community, 10_000)
        poison = enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields,
                                images={**images, "bigImageBase64": buffer.getvalue()})
    w = worker(output_dir, sandbox_city, UPLOAD_MAX_ATTEMPTS="2")
    try:
        got = wait_until_all_arrive(sandbox_city, expected_keys(community, 300), timeout=120)
        deadline = time.monotonic() + 60
        while OutboxRecord.objects.filter(pk=poison.pk).exclude(status=OutboxRecord.Status.DEAD).exists():
            assert time.monotonic() < deadline, "the refused record was not dead-lettered"
            time.sleep(0.3)
    finally:
        w.stop()
    assert sum(sum(c.values()) for c in got.values()) == 300
    poison.refresh_from_db()
    assert "bigImageBase64" in poison.last_error and "超过 100 KB 上限" in poison.last_error
    assert OutboxRecord.objects.exclude(pk=poison.pk).exclude(status=OutboxRecord.Status.SENT).count() == 0


def test_it_keeps_other_communities_flowing_while_one_link_hangs(sandbox_city, output_dir):
    healthy = community_with_credentials(city_id="CITY-Y")
    hanging = community_with_credentials(city_id="CITY-X")
    # X's requests hang for 3 s and are then dropped (read timeout 1 s): a broken link, not a refusal.
    sandbox_city.configure(slow_seconds=3)
    sandbox_city.set_faults({"hang": 1.0}, communities=["CITY-X"])
    w = worker(output_dir, sandbox_city, UPLOAD_READ_TIMEOUT="1")
    try:
        started = time.monotonic()
        with transaction.atomic():
            enqueue_mixed(healthy, 300)
        wait_until_all_arrive(sandbox_city, expected_keys(healthy, 300), timeout=120)
        alone = time.monotonic() - started
        with transaction.atomic():
            enqueue_mixed(hanging, 300)
        time.sleep(2)  # X's first requests are hanging now
        started = time.monotonic()
        with transaction.atomic():
            enqueue_mixed(healthy, 300, start=300)
        got = wait_until_all_arrive(sandbox_city, expected_keys(healthy, 600), timeout=120)
        beside_a_hanging_link = time.monotonic() - started
    finally:
        w.stop()
    assert sum(sum(c.values()) for c in got.values()) == 600  # Y's only: nothing of X was stored
    x_rows = OutboxRecord.objects.filter(community=hanging)
    assert not x_rows.filter(status=OutboxRecord.Status.SENT).exists()
    assert x_rows.exclude(last_error="").filter(last_error__contains="no answer").exists()
    (output_dir / "figures.txt").write_text(
        f"300 records of Y alone: {alone:.1f}s; 300 more beside X hanging: {beside_a_hanging_link:.1f}s\n")
