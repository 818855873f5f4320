"""Scaling out: two Celery worker processes with separate hostnames (and node names) share one outbox. Each
record reaches the sandbox city exactly once, and both workers sent batches (UploadBatch.worker names the host
and process that sent it). On a machine where `unshare --uts` works (root), each worker runs in its own UTS
namespace with its own hostname, as on two machines; elsewhere they share the host name and the batches are
told apart by the workers' process groups."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import transaction

from tests.factories import CommunityFactory, SiteCredentialFactory
from tests.processes import ManagedProcess, child_env
from uploads.models import Endpoint, OutboxRecord, UploadBatch
from uploads.services import enqueue_record
from uploads.testing import pass_record

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FAST = {"UPLOAD_RETRY_BASE_SECONDS": "0.2", "UPLOAD_RETRY_MAX_SECONDS": "1", "UPLOAD_SWEEP_SECONDS": "1",
        "UPLOAD_LEASE_SECONDS": "30", "UPLOAD_DRAIN_BUDGET_SECONDS": "2", "LINK_CHECK_SECONDS": "5"}
COMMUNITIES, PER_COMMUNITY = 6, 400


def can_set_hostname() -> bool:
    try:
        return subprocess.run(["unshare", "--uts", "hostname", "afxq-probe"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_named_worker(output_dir, sandbox, name: str, *, beat: bool, own_hostname: bool) -> ManagedProcess:
    celery = [sys.executable, "-m", "celery", "-A", "afxq_portal", "worker", "-l", "INFO", "-c", "2",
              "-n", f"{name}@%h", "-Q", f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_PHOTO_QUEUE}"]
    if beat:
        celery += ["-B", "-s", str(output_dir / f"{name}-beat-schedule")]
    args = (["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, *celery] if own_hostname
            else celery)
    worker = ManagedProcess(name, args, output_dir, child_env(CITY_PLATFORM_BASE_URL=sandbox.url, **FAST))
    worker.wait_for_output("ready.", timeout=90)
    return worker


def test_it_shares_one_outbox_between_two_workers_without_sending_a_row_twice(sandbox_city, output_dir):
    communities = [CommunityFactory(city_id=f"SCALE-{n}") for n in range(COMMUNITIES)]
    for community in communities:
        SiteCredentialFactory(community=community)
    own_hostname = can_set_hostname()
    # One beat for the deployment (in the first worker), as docs/deploy.md says.
    workers = [start_named_worker(output_dir, sandbox_city, "afxq-node-a", beat=True, own_hostname=own_hostname),
               start_named_worker(output_dir, sandbox_city, "afxq-node-b", beat=False, own_hostname=own_hostname)]
    groups = {os.getpgid(w.process.pid): w.name for w in workers}
    try:
        # Enqueued once both are up (one transaction and one nudge per community), so both can take work.
        expected = set()
        for community in communities:
            with transaction.atomic():
                for n in range(PER_COMMUNITY):
                    fields, images = pass_record(community, n)
                    enqueue_record(community=community, endpoint=Endpoint.PASS_RECORD, fields=fields, images=images)
                    expected.add(fields["outId"])
        deadline = time.monotonic() + 300
        while OutboxRecord.objects.exclude(status=OutboxRecord.Status.SENT).exists():
            assert time.monotonic() < deadline, Counter(OutboxRecord.objects.values_list("status", flat=True))
            time.sleep(0.5)
        senders = {pgid_or_host(worker, groups, own_hostname)
                   for worker in UploadBatch.objects.exclude(worker="").values_list("worker", flat=True)}
    finally:
        for worker in workers:
            worker.stop()

    got = Counter(str(r["fields"]["outId"]) for r in sandbox_city.records(Endpoint.PASS_RECORD))
    assert set(got) == expected
    assert [k for k, n in got.items() if n > 1] == []  # no fault was injected: nothing may arrive twice
    assert sandbox_city.stats()["rejected"] == 0
    assert senders == {"afxq-node-a", "afxq-node-b"}
    # Every sent row was sent by one batch, and the batches' counts add up to the rows.
    assert sum(UploadBatch.objects.filter(response_code="_200").values_list("record_count", flat=True)) == len(expected)
    (output_dir / "figures.txt").write_text(
        f"{len(expected)} records, {UploadBatch.objects.count()} batches, own hostnames: {own_hostname}; "
        f"batches per worker: {Counter(UploadBatch.objects.values_list('worker', flat=True))}\n")


def pgid_or_host(worker: str, groups: dict[int, str], own_hostname: bool) -> str:
    """UploadBatch.worker is "<hostname>:<pid>": the hostname itself, or the worker owning that process."""
    host, _, pid = worker.rpartition(":")
    if own_hostname:
        return host
    try:
        return groups.get(os.getpgid(int(pid)), f"unknown process {pid}")
    except ProcessLookupError:
        return f"gone process {pid}"
