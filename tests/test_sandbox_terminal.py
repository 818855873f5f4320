"""The terminal simulator itself, over HTTP: its Digest authentication, its page, and `manage.py sandbox_terminal`."""

from __future__ import annotations

import sys

import pytest
import requests
from requests.auth import HTTPDigestAuth

from tests.processes import ManagedProcess
from uploads.testing import jpeg

pytestmark = pytest.mark.integration


def test_it_asks_for_digest_and_refuses_a_replayed_signature(sandbox_terminal):
    url = f"{sandbox_terminal.url}/ISAPI/System/deviceInfo"
    with requests.Session() as session:
        bare = session.get(url, timeout=10)
        assert bare.status_code == 401
        challenge = bare.headers["WWW-Authenticate"]
        assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and "nonce=" in challenge
        signed = session.get(url, timeout=10, auth=HTTPDigestAuth(sandbox_terminal.username,
                                                                 sandbox_terminal.password))
        assert signed.status_code == 200 and b"<model>" in signed.content
        header = signed.request.headers["Authorization"]
        assert session.get(url, timeout=10, headers={"Authorization": header}).status_code == 401  # replayed
        other_path = f"{sandbox_terminal.url}/ISAPI/AccessControl/UserInfo/Search?format=json"
        assert session.post(other_path, timeout=10, headers={"Authorization": header}).status_code == 401


def test_it_shows_who_it_holds_and_the_events_on_its_page(sandbox_terminal):
    from datetime import UTC, datetime, timedelta

    from terminals.vendors.base import TerminalPerson

    with sandbox_terminal.driver() as driver:
        driver.add_person(TerminalPerson("R1", "李娜", datetime.now(UTC) - timedelta(days=1),
                                         datetime.now(UTC) + timedelta(days=1)))
        driver.set_face("R1", jpeg(400, 500))
    sandbox_terminal.pass_("R1")
    page = requests.get(sandbox_terminal.url + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "沙箱人脸门禁终端" in page.text and "李娜" in page.text and "认证通过" in page.text
    assert 'src="/_sandbox/faces/R1.jpg"' in page.text
    face = requests.get(sandbox_terminal.url + "/_sandbox/faces/R1.jpg", timeout=10)
    assert face.status_code == 200 and face.content[:2] == b"\xff\xd8"


def test_it_runs_from_manage_py(output_dir):
    import os

    process = ManagedProcess("manage-sandbox-terminal", [sys.executable, "manage.py", "sandbox_terminal", "--port",
                                                         "0", "--capacity", "3"], output_dir,
                             {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        process.wait_for_output("sandbox terminal listening on http://127.0.0.1:", timeout=60)
    finally:
        process.stop()


def test_it_overwrites_its_oldest_events_past_its_capacity(start_sandbox_terminal):
    from datetime import UTC, datetime, timedelta

    terminal = start_sandbox_terminal(event_capacity=5)
    serials = [terminal.pass_("NOBODY")["event"]["serialNo"] for _ in range(8)]
    assert [e["serialNo"] for e in terminal.events()] == serials[3:]
    with terminal.driver() as driver:
        found = list(driver.search_events(datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC)))
    assert [e.serial_no for e in found] == serials[3:] and all(e.picture for e in found)


def test_it_sends_heartbeats_once_an_event_host_is_set(start_sandbox_terminal):
    import time

    terminal = start_sandbox_terminal(heartbeat=0.2)
    time.sleep(0.5)
    assert terminal.state()["pushes"] == []  # no host yet: nothing sent
    with terminal.driver() as driver:
        driver.set_event_host("http://127.0.0.1:9/nobody-listens")
    deadline = time.monotonic() + 10
    while len(terminal.state()["pushes"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(terminal.state()["pushes"]) >= 2
