"""The Hikvision ISAPI driver against the terminal simulator, a real process over HTTP with Digest authentication:
people, faces, refusals, faults, the event host and its pushes, the event search with pictures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.http import make_threaded_server
from terminals.vendors.base import TerminalError, TerminalPerson
from terminals.vendors.hikvision import HikvisionDriver
from uploads.testing import jpeg

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def person(number: int, name: str = "张伟", **changes: object) -> TerminalPerson:
    fields: dict = {"employee_no": f"R{number:05d}", "name": name,
                    "valid_from": datetime(2026, 1, 1, tzinfo=SHANGHAI),
                    "valid_to": datetime(2031, 1, 1, tzinfo=SHANGHAI)}
    fields.update(changes)
    return TerminalPerson(**fields)


@pytest.fixture
def driver(sandbox_terminal) -> Iterator[HikvisionDriver]:
    with sandbox_terminal.driver() as terminal_driver:
        yield terminal_driver


class Receiver:
    """A tiny HTTP server standing in for the portal's event receiver: keeps (Content-Type, body) of each POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((self.headers.get("Content-Type") or "", body))
                receiver.arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server, self.url = make_threaded_server("127.0.0.1", 0, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def refusal(call, *args: object) -> TerminalError:
    with pytest.raises(TerminalError) as caught:
        call(*args)
    return caught.value


def test_it_maps_a_wrong_password_to_a_permanent_auth_error(sandbox_terminal):
    with sandbox_terminal.driver(password="wrong") as wrong:
        error = refusal(wrong.device_info)
    assert error.permanent and error.code == "auth"
    assert sandbox_terminal.state()["authFailures"] >= 1


def test_it_reads_the_device_info(driver):
    info = driver.device_info()
    assert info.model == "DS-K1T671M" and info.firmware.startswith("V") and info.serial and info.name


def test_it_adds_lists_updates_and_deletes_people_paged_beyond_one_page(driver, sandbox_terminal):
    for number in range(65):
        driver.add_person(person(number, valid_from=datetime(2026, 1, 1, tzinfo=UTC)))
    people = list(driver.list_people())
    assert [p.employee_no for p in people] == [f"R{n:05d}" for n in range(65)]
    # The terminal holds local wall time without an offset; read back, it is the same instant.
    held = {p["employeeNo"]: p for p in sandbox_terminal.people()}
    assert held["R00000"]["Valid"] == {"enable": True, "beginTime": "2026-01-01T08:00:00",
                                       "endTime": "2031-01-01T00:00:00", "timeType": "local"}
    assert people[0].valid_from == datetime(2026, 1, 1, tzinfo=UTC) and people[0].door == 1
    assert not people[0].has_face

    driver.update_person(person(3, name="王芳", valid_to=datetime(2027, 6, 30, 23, 59, 59, tzinfo=SHANGHAI)))
    updated = next(p for p in driver.list_people() if p.employee_no == "R00003")
    assert updated.name == "王芳" and updated.valid_to == datetime(2027, 6, 30, 23, 59, 59, tzinfo=SHANGHAI)

    driver.delete_people([f"R{n:05d}" for n in range(40)] + ["R99999"])  # an absent one is not an error
    assert [p.employee_no for p in driver.list_people()] == [f"R{n:05d}" for n in range(40, 65)]


def test_it_clamps_a_validity_beyond_the_terminals_years(driver, sandbox_terminal):
    driver.add_person(person(1, valid_to=datetime(2099, 12, 31, tzinfo=SHANGHAI)))
    assert sandbox_terminal.people()[0]["Valid"]["endTime"] == "2037-12-31T23:59:59"


def test_it_sets_replaces_and_deletes_faces(driver, sandbox_terminal):
    driver.add_person(person(1))
    driver.set_face("R00001", jpeg(400, 500))
    first = sandbox_terminal.people()[0]["faceBytes"]
    assert first and next(iter(driver.list_people())).has_face
    driver.set_face("R00001", jpeg(480, 600, shade=40))  # a second set replaces the face
    assert sandbox_terminal.people()[0]["faceBytes"] not in (0, first)
    driver.delete_face("R00001")
    driver.delete_face("R00001")  # already gone: not an error
    assert not next(iter(driver.list_people())).has_face
    driver.set_face("R00001", jpeg(400, 500))
    driver.delete_people(["R00001"])  # deleting the person removes the face too
    driver.add_person(person(1))
    assert not next(iter(driver.list_people())).has_face


def test_it_maps_the_terminals_refusals_to_permanent_codes(driver, sandbox_terminal):
    driver.add_person(person(1))
    assert refusal(driver.add_person, person(1)).code == "bad_field"  # employeeNoAlreadyExist
    assert refusal(driver.update_person, person(2)).code == "not_found"
    assert refusal(driver.set_face, "R00002", jpeg(400, 500)).code == "not_found"  # a face for an absent person
    long_name = refusal(driver.add_person, person(3, name="阿卜杜热合曼·买买提·艾力江"))  # 38 bytes in UTF-8
    assert (long_name.permanent, long_name.code) == (True, "name_invalid") and "nameError" in long_name.reason
    assert refusal(driver.add_person, person(3, employee_no="X" * 33)).code == "bad_field"
    assert refusal(driver.set_face, "R00001", b"not a jpeg").code == "face_quality"
    assert refusal(driver.set_face, "R00001", jpeg(60, 70)).code == "face_quality"
    sandbox_terminal.faults(refuse=["R00001"])
    refused = refusal(driver.set_face, "R00001", jpeg(400, 500))
    assert (refused.permanent, refused.code) == (True, "face_quality") and "faceQualityLow" in refused.reason


def test_it_maps_a_face_over_the_limit_whether_it_or_the_terminal_refuses(driver, sandbox_terminal):
    import io
    import os

    from PIL import Image

    driver.add_person(person(1))
    noise = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    big = io.BytesIO()
    noise.save(big, "JPEG", quality=95)
    assert len(big.getvalue()) > driver.face_max_bytes
    assert refusal(driver.set_face, "R00001", big.getvalue()).code == "face_too_large"  # before sending
    driver.face_max_bytes = 10**7  # the terminal's own check
    error = refusal(driver.set_face, "R00001", big.getvalue())
    assert (error.permanent, error.code) == (True, "face_too_large")


def test_it_maps_full_libraries_to_library_full(start_sandbox_terminal):
    terminal = start_sandbox_terminal(capacity=3, face_capacity=1)
    with terminal.driver() as driver:
        for number in range(3):
            driver.add_person(person(number))
        assert refusal(driver.add_person, person(3)).code == "library_full"
        driver.set_face("R00000", jpeg(400, 500))
        assert refusal(driver.set_face, "R00001", jpeg(400, 500)).code == "library_full"
        driver.set_face("R00000", jpeg(400, 500, shade=9))  # replacing takes no new place


@pytest.mark.parametrize("offline", [True, "503"])
def test_it_reports_an_offline_terminal_as_not_permanent(driver, sandbox_terminal, offline):
    sandbox_terminal.faults(offline=offline)
    error = refusal(driver.device_info)
    assert not error.permanent and not error.code
    sandbox_terminal.faults(offline=False)
    assert driver.device_info().model


def test_it_times_out_on_a_slow_terminal_as_not_permanent(sandbox_terminal):
    sandbox_terminal.faults(slow=2)
    with sandbox_terminal.driver(timeout=0.5) as slow:
        assert not refusal(slow.device_info).permanent


def test_it_sees_a_terminal_reset_as_empty(driver, sandbox_terminal):
    driver.add_person(person(1))
    sandbox_terminal.faults(reboot_empty=True)
    assert list(driver.list_people()) == []


def test_it_sets_the_event_host_and_parses_the_push_of_a_pass(driver, sandbox_terminal, receiver):
    driver.set_event_host(f"{receiver.url}/terminals/events/secret-token?x=1")
    host = sandbox_terminal.state()["httpHost"]
    assert (host["ipAddress"], host["url"], host["addressingFormatType"]) == (
        "127.0.0.1", "/terminals/events/secret-token?x=1", "ipaddress")
    assert host["portNo"] == int(receiver.url.rsplit(":", 1)[1]) and host["parameterFormatType"] == "JSON"
    driver.add_person(person(7, valid_from=datetime.now(UTC) - timedelta(days=1)))
    driver.set_face("R00007", jpeg(400, 500))

    answer = sandbox_terminal.pass_("R00007")
    assert answer["push"]["status"] == 200 and receiver.arrived.wait(10)
    content_type, body = receiver.posts[-1]
    assert content_type.startswith("multipart/form-data")
    [event] = driver.parse_push(content_type, body)
    assert event.is_pass and event.employee_no == "R00007" and (event.major, event.minor) == (5, 75)
    assert event.serial_no == answer["event"]["serialNo"] and event.verify_mode == "face"
    assert event.picture and event.picture[:2] == b"\xff\xd8"
    assert event.occurred_at.tzinfo and abs(event.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)

    stranger = sandbox_terminal.pass_("NOBODY")
    [failed] = driver.parse_push(*receiver.posts[-1])
    assert not failed.is_pass and failed.minor == 76 and failed.serial_no == stranger["event"]["serialNo"]


def test_it_parses_a_heartbeat_as_no_pass(driver, sandbox_terminal, receiver):
    driver.set_event_host(receiver.url + "/hb")
    assert sandbox_terminal.heartbeat()["push"]["status"] == 200
    [beat] = driver.parse_push(*receiver.posts[-1])
    assert not beat.is_pass and beat.serial_no == 0
    [json_beat] = driver.parse_push("application/json", b'{"eventType": "heartBeat", "dateTime": '
                                                        b'"2026-12-02T08:01:02+08:00", "activePostCount": 0}')
    assert not json_beat.is_pass and json_beat.occurred_at == datetime(2026, 12, 2, 0, 1, 2, tzinfo=UTC)


def test_it_keeps_events_searchable_when_the_push_fails(driver, sandbox_terminal):
    driver.set_event_host("http://127.0.0.1:9/nobody-listens")
    driver.add_person(person(1, valid_from=datetime.now(UTC) - timedelta(days=1)))
    driver.set_face("R00001", jpeg(400, 500))
    answer = sandbox_terminal.pass_("R00001")
    assert answer["push"]["status"] is None
    start = datetime.now(UTC) - timedelta(minutes=5)
    [found] = list(driver.search_events(start, datetime.now(UTC) + timedelta(minutes=1)))
    assert found.is_pass and found.serial_no == answer["event"]["serialNo"]


def test_it_searches_events_by_time_paged_with_pictures(driver, sandbox_terminal):
    driver.add_person(person(1, valid_from=datetime.now(UTC) - timedelta(days=1)))
    driver.set_face("R00001", jpeg(400, 500))
    serials = [sandbox_terminal.pass_("R00001" if n % 5 else "NOBODY")["event"]["serialNo"] for n in range(35)]
    start = datetime.now(UTC) - timedelta(minutes=5)
    events = list(driver.search_events(start, datetime.now(UTC) + timedelta(minutes=1)))
    assert [e.serial_no for e in events] == serials  # 35: two pages of the terminal's 30
    assert all(e.picture and e.picture[:2] == b"\xff\xd8" for e in events)
    assert sum(e.is_pass for e in events) == 28 and all(e.employee_no == "R00001" for e in events if e.is_pass)
    assert list(driver.search_events(start - timedelta(days=2), start - timedelta(days=1))) == []


def test_it_refuses_a_picture_url_on_another_host(driver, sandbox_terminal):
    driver.add_person(person(1, valid_from=datetime.now(UTC) - timedelta(days=1)))
    driver.set_face("R00001", jpeg(400, 500))
    sandbox_terminal.pass_("R00001")
    # The same simulator under another name: fetching it would work, so only the refusal keeps the picture out.
    sandbox_terminal.faults(picture_origin=sandbox_terminal.url.replace("127.0.0.1", "localhost"))
    [event] = list(driver.search_events(datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC)))
    assert event.is_pass and event.picture is None


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/html", b"<html></html>"),
    ("application/json", b"not json"),
    ("application/json", b"[1, 2]"),
    ("application/json", b'{"eventType": "AccessControllerEvent", "dateTime": "2026-12-02T08:01:02+08:00"}'),
    ("application/json", b'{"eventType": "heartBeat", "dateTime": "yesterday"}'),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{}\r\n--x--"),
    ("multipart/form-data; boundary=x", b"garbage"),
])
def test_it_refuses_a_push_that_is_not_the_terminals(content_type, body):
    with HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver, pytest.raises(ValueError):
        driver.parse_push(content_type, body)


def test_it_parses_an_access_event_sent_as_bare_json():
    body = (b'{"ipAddress": "10.0.0.5", "portNo": 80, "dateTime": "2026-12-02T08:01:02+08:00", "activePostCount": 1,'
            b' "eventType": "AccessControllerEvent", "eventState": "active", "AccessControllerEvent": {'
            b'"majorEventType": 5, "subEventType": 75, "employeeNoString": "R00001", "serialNo": 123,'
            b' "currentVerifyMode": "face", "attendanceStatus": "undefined", "name": "x", "picturesNumber": 0}}')
    with HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver:
        [event] = driver.parse_push("application/json; charset=utf-8", body)
        [no_one] = driver.parse_push("application/json", body.replace(b'"R00001"', b'""'))
    assert event.is_pass and event.serial_no == 123 and event.picture is None
    assert not no_one.is_pass  # a pass without an employeeNo is nobody the portal knows


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
PUSH_FIELDS = st.fixed_dictionaries({}, optional={
    "eventType": st.sampled_from(["AccessControllerEvent", "heartBeat", "", "other"]) | JSON_VALUES,
    "dateTime": st.sampled_from(["2026-12-02T08:01:02+08:00", "2026-12-02T08:01:02", "x"]) | JSON_VALUES,
    "AccessControllerEvent": st.fixed_dictionaries({}, optional={
        name: JSON_VALUES | st.integers(0, 200) for name in (
            "majorEventType", "subEventType", "serialNo", "employeeNoString", "currentVerifyMode")}) | JSON_VALUES,
})


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(PUSH_FIELDS)
def test_it_reads_any_push_or_says_why_not(fields):
    """Whatever a terminal (or anyone reaching the receiver) posts: events, or ValueError, never another error."""
    import json

    with HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver:
        try:
            events = driver.parse_push("application/json", json.dumps(fields).encode())
        except ValueError:
            return
    assert all(e.occurred_at.tzinfo for e in events)
    assert all(not e.is_pass or (e.employee_no and e.major == 5) for e in events)


def test_it_refuses_naive_datetimes():
    with HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver:
        with pytest.raises(ValueError, match="aware"):
            driver.add_person(person(1, valid_from=datetime(2026, 1, 1)))
        with pytest.raises(ValueError, match="aware"):
            next(driver.search_events(datetime(2026, 1, 1), datetime(2026, 1, 2)))


@pytest.mark.parametrize(("status", "body", "content_type", "permanent", "code"), [
    (500, b"<html>oops</html>", "text/html", False, ""),
    (503, b"", "text/html", False, ""),
    (200, b'{"statusCode": 4, "statusString": "Invalid Operation", "subStatusCode": "faceLibraryFull"}',
     "application/json", True, "library_full"),  # an error answered with HTTP 200, as some firmware does
    (400, b'{"statusCode": 3, "statusString": "Device Error", "subStatusCode": "deviceBusy"}', "application/json",
     False, ""),
    (400, b'<?xml version="1.0"?><ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
          b"<statusCode>6</statusCode><statusString>Invalid Content</statusString>"
          b"<subStatusCode>badJsonContent</subStatusCode></ResponseStatus>", "application/xml", True, "bad_field"),
    (403, b"", "text/html", True, "auth"),
])
def test_it_maps_answers_of_other_shapes(status, body, content_type, permanent, code):
    import responses

    with responses.RequestsMock() as mocked, HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver:
        mocked.add(responses.POST, "http://127.0.0.1:9/ISAPI/AccessControl/UserInfo/Record", status=status, body=body,
                   content_type=content_type)
        error = refusal(driver.add_person, person(1))
    assert (error.permanent, error.code) == (permanent, code)


def test_it_refuses_device_info_with_a_dtd():
    import responses

    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<DeviceInfo><model>&lol2;</model></DeviceInfo>")
    with responses.RequestsMock() as mocked, HikvisionDriver("http://127.0.0.1:9", "admin", "x") as driver:
        mocked.add(responses.GET, "http://127.0.0.1:9/ISAPI/System/deviceInfo", body=bomb,
                   content_type="application/xml")
        assert "DTD" in refusal(driver.device_info).reason
