"""Real Celery worker processes and the terminal simulator over HTTP: residents' changes reach the terminal
within seconds through the signals and the workers, and a dead terminal holds up no other."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.core.files.base import ContentFile

from residents.models import Resident
from terminals.people import employee_no_of
from tests.device_helpers import capture
from tests.processes import start_worker
from tests.terminal_helpers import resident_with_photo
from tests.test_terminals_sim import faces_of, sim_terminal

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_it_converges_through_the_workers_and_a_dead_terminal_holds_none(
        start_sandbox_terminal, community_a, celery_worker, output_dir):
    second = start_worker(output_dir, name="worker-2")
    try:
        live, dead = start_sandbox_terminal(), start_sandbox_terminal()
        dead.faults(slow=30)
        sim_terminal(community_a, dead)
        sim_terminal(community_a, live)
        residents = [resident_with_photo(community_a, seed=n % 5) for n in range(20)]
        wanted = sorted(employee_no_of(r.pk) for r in residents)
        wait_for(lambda: sorted(faces_of(live)) == wanted, what="20 faces on the live terminal")
        rejected, changed = residents[0], residents[1]
        before = faces_of(live)[employee_no_of(changed.pk)]
        rejected.status = Resident.Status.REJECTED
        rejected.save()
        changed.photo.save("new.jpg", ContentFile(capture(1024, 768, seed=9)))
        wait_for(lambda: employee_no_of(rejected.pk) not in faces_of(live)
                 and faces_of(live).get(employee_no_of(changed.pk)) not in (None, before),
                 timeout=30, what="the rejection and the new face")
    finally:
        second.stop()
