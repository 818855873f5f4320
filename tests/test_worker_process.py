"""The integration-test harness itself: a real worker process consumes from the test queue."""

import pytest

from afxq_portal.celery_app import ping

pytestmark = pytest.mark.integration


def test_it_runs_a_task_in_a_real_worker_process(celery_worker):
    ping.delay()
    celery_worker.wait_for_output("afxq_portal.ping", timeout=60)
    celery_worker.wait_for_output("succeeded", timeout=60)
