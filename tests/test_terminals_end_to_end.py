"""A face terminal's passes reach the sandbox city once each, through every real part: the terminal simulator over
HTTP pushing to the portal's receiver under gunicorn, the ingest, the outbox and a Celery worker with beat. The web
server is then stopped while people go on passing: the terminal's pushes fail, it keeps the events, and once the
server is back the gap fetch brings them to the city, once each."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from terminals.models import Terminal
from terminals.people import employee_no_of
from tests.factories import SiteCredentialFactory
from tests.processes import ManagedProcess, child_env, start_worker
from tests.terminal_helpers import resident_with_photo
from tests.test_device_batch_gunicorn import free_port
from tests.test_device_delivery import FAST
from tests.test_terminals_sim import faces_of, sim_terminal
from uploads.models import OutboxRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout} s: {what}; outbox "
                         f"{list(OutboxRecord.objects.values_list('status', 'last_error'))}")


def start_web(port: int, log_dir: Path, name: str) -> ManagedProcess:
    web = ManagedProcess(name, [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "afxq_portal.wsgi"],
                         log_dir, child_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2"))
    web.wait_for_output("Booting worker", timeout=60)
    return web


def city_passes(sandbox_city) -> list[str]:
    return [r["fields"]["outId"] for r in sandbox_city.records("person-inout-info")]


def test_it_brings_every_pass_to_the_city_once_even_while_the_web_server_is_down(
        start_sandbox_terminal, sandbox_city, community_a, output_dir) -> None:
    SiteCredentialFactory(community=community_a)
    port = free_port()
    web = start_web(port, output_dir, "web")
    worker = start_worker(output_dir, beat=True, CITY_PLATFORM_BASE_URL=sandbox_city.url,
                          TERMINAL_RECEIVER_BASE_URL=f"http://127.0.0.1:{port}", TERMINAL_SWEEP_SECONDS="2",
                          TERMINAL_EVENT_MARGIN_SECONDS="30", **FAST)
    sim = start_sandbox_terminal()
    try:
        residents = [resident_with_photo(community_a, seed=n) for n in range(3)]
        terminal = sim_terminal(community_a, sim)
        wanted = sorted(employee_no_of(r.pk) for r in residents)
        wait_for(lambda: sorted(faces_of(sim)) == wanted and sim.state()["httpHost"], "faces and the event host")

        # People at the door: each pass pushed, answered once stored, sent to the city.
        for resident in residents:
            played = sim.pass_(employee_no_of(resident.pk))
            assert played["push"]["status"] == 200, played
        wait_for(lambda: len(city_passes(sandbox_city)) >= 3, "the three pushed passes at the city")

        # The portal's web server stops; two more people pass. The terminal cannot push and keeps the events.
        web.stop()
        for resident in residents[:2]:
            played = sim.pass_(employee_no_of(resident.pk))
            assert played["push"]["status"] != 200, played
        time.sleep(3)
        web = start_web(port, output_dir, "web-again")
        # Back: the sweep's gap fetch finds both in the terminal's event search.
        wait_for(lambda: len(city_passes(sandbox_city)) >= 5, "the two passes made while the server was down")
        # And a pass after the outage is pushed as before.
        assert sim.pass_(employee_no_of(residents[2].pk))["push"]["status"] == 200
        wait_for(lambda: len(city_passes(sandbox_city)) >= 6, "the pass after the outage")
        time.sleep(6)  # more sweeps and gap fetches: nothing is sent twice
        passes = city_passes(sandbox_city)
        assert len(passes) == len(set(passes)) == 6, passes
        terminal.refresh_from_db()
        assert terminal.last_serial_no == 6 and Terminal.objects.get().online
    finally:
        worker.stop()
        web.stop()
