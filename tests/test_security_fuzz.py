"""Fuzzing the APIs against their OpenAPI schema (security/schema.py) over a live server: schemathesis draws
bodies that fit the schema and bodies that do not, for apply-access and every device endpoint; no answer may be a
5xx, every answer must be in its envelope and match the schema (status, content type, body). The validators get
hypothesis property tests in tests/test_security_properties.py."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import schemathesis
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from communities.models import MonitoringPoint
from residents import services
from residents.models import ApplyAccessCall
from tests.device_helpers import make_device
from tests.factories import ResidentFactory, make_id_card

pytestmark = pytest.mark.django_db(transaction=True)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and mode: quick enough for every run; FUZZ_EXAMPLES=500 for a deeper hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
KIND_OF = {"/api/v1/devices/face-snapshots": MonitoringPoint.Kind.FACE_SNAPSHOT,
           "/api/v1/devices/car-snapshots": MonitoringPoint.Kind.VEHICLE_SNAPSHOT}


@pytest.fixture
def api_schema():
    return schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def assert_in_envelope(path: str, response: requests.Response) -> bool:
    """False when the call never reached the API (nothing more to check)."""
    if path.endswith("/photo") and not re.search(r"/faces/[0-9]+/photo$", response.request.url):
        # An id that is not a number never reaches the API: the URL resolver's plain 404.
        assert response.status_code == 404
        return False
    if path.endswith("/photo") and response.status_code == 200:
        assert response.headers["Content-Type"] == "image/jpeg"
        return True
    try:
        body = response.json()  # every answer is JSON
    except ValueError:
        pytest.fail(f"{response.request.method} {response.url}: HTTP {response.status_code} not JSON: "
                    f"{response.text[:300]}")
    if path == "/apply-access":
        assert set(body) == {"code", "message"} and body["code"] in (0, 1), body
    elif response.status_code == 200:
        assert {"accepted", "refused", "results"} <= set(body) or {"faces", "removed", "cursor", "more"} <= set(body)
    else:
        assert isinstance(body.get("detail"), str) and body["detail"], body
    return True


def test_it_serves_the_schema_to_staff_only(alice, gary, community_a):
    anonymous, staff, guard = Client(), Client(), Client()
    staff.force_login(alice)
    guard.force_login(gary)
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    assert guard.get("/api/schema/").status_code == 403
    answer = staff.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    assert {"/apply-access", "/api/v1/devices/pass-events", "/api/v1/devices/faces"} <= set(answer.json()["paths"])


@pytest.mark.parametrize("field", ["ywlsh", "communityId", "name"])
def test_it_refuses_a_nul_character_by_name(client, community_a, field):
    """Found by the fuzz test on PostgreSQL (text cannot hold NUL): it was an internal error, HTTP 500."""
    body = {"address": "x", "name": "张三", "idCard": "x", "photo": "x", "source": "01", "type": "01", "phone": "x",
            "communityId": community_a.city_id, "ownerId": "o", "ywlsh": "y", "xbdm": 1}
    body[field] = body[field] + "\x00"
    answer = client.post("/apply-access", body, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json() == {"code": 0, "message": f"{field}: 含有空字符（NUL）"}
    raw = client.post("/apply-access", b'{"name": "\x00"}', content_type="application/json")
    assert raw.status_code == 400 and raw.json()["code"] == 0


def test_it_refuses_a_device_event_with_a_nul_character_by_name(client, community_a):
    """Found by the fuzz test on PostgreSQL: an event with a NUL in a value or a field name was a 500."""
    key = make_device(community_a, MonitoringPoint.Kind.FACE_PANEL)[1]
    events = [{"person": "owner\x00", "time": "2026-11-25 08:00:00"}, {"bad\x00name": "x"}]
    answer = client.post("/api/v1/devices/pass-events", events, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    assert [(r["status"], r["field"], r["reason"]) for r in answer.json()["results"]] == [
        ("refused", "person", "contains a NUL character"),
        ("refused", "bad\\x00name", "the field name contains a NUL character")]


def fuzz(operation, mode: GenerationMode, key: str, photo_id: int, base_url: str):
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), with_key=st.booleans())
    def call(case, with_key: bool) -> None:
        if operation.path.endswith("/photo") and with_key:
            case.path_parameters = {"id": photo_id}
        # Half the calls with a valid key (the endpoint's logic), half with whatever was drawn (auth parsing).
        headers = {"Authorization": f"Token {key}"} if with_key else {}
        response = case.call(base_url=base_url, session=session, headers=headers)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
        if assert_in_envelope(operation.path, response):
            case.validate_response(response, checks=CHECKS)

    return call


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_it_answers_every_fuzzed_call_in_its_envelope_without_a_server_error(live_server, api_schema, community_a,
                                                                             mode):
    keys = {kind: make_device(community_a, kind)[1] for kind in MonitoringPoint.Kind.values}
    resident = ResidentFactory(community=community_a, status="active")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 6
    for operation in operations:
        key = keys[KIND_OF.get(operation.path, MonitoringPoint.Kind.FACE_PANEL)]
        fuzz(operation, mode, key, resident.pk, live_server.url)()
    # What apply-access accepted, the worker's half applies without an internal error.
    services.apply_accepted_calls()
    assert not ApplyAccessCall.objects.filter(outcome__in=["accepted", "error"]).exists()


# --- Hostile text and nesting at every API door (what the schema-driven fuzzing above never draws) ---------

EVERY_DIGIT = [chr(c) for c in range(0x110000) if chr(c).isdigit() and not chr(c).isascii()]
EVERY_SPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
HOSTILE_CHARS = ["\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u061c",
                 "\u200f", "\u202e", "\u2066", "\u2069", "\u2028", "\ufeff"]
hostile_char = st.one_of(st.sampled_from(HOSTILE_CHARS), st.sampled_from(EVERY_DIGIT), st.sampled_from(EVERY_SPACE))


@st.composite
def hostile(draw: st.DrawFn, base: dict) -> bytes:
    """``base`` with hostile characters put into some values and field names, and sometimes nested deep."""
    body: dict = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(base)), min_size=1, max_size=3, unique=True)):
        value = str(body[name])
        at = draw(st.integers(0, len(value)))
        body[name] = value[:at] + "".join(draw(st.lists(hostile_char, min_size=1, max_size=3))) + value[at:]
    if draw(st.booleans()):
        body[draw(st.sampled_from(sorted(base))) + draw(hostile_char)] = "x"
    levels = draw(st.sampled_from([0, 0, 0, 40, 1_000]))
    # ensure_ascii: lone surrogates travel as "\ud800" escapes, as a peer's JSON would carry them.
    return b"[" * levels + json.dumps(body, ensure_ascii=True).encode() + b"]" * levels


def hostile_settings(function):
    return settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))(function)


def test_it_answers_hostile_text_and_nesting_at_apply_access_and_loses_nothing_accepted(live_server, community_a):
    session = requests.Session()
    valid = {"address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": "张三", "idCard": make_id_card(1),
             "photo": "http://photos.example.com/p/1.jpg", "source": "01", "type": "01", "phone": "13812345678",
             "communityId": community_a.city_id, "ownerId": "OWNER-1", "ywlsh": "YW-1", "xbdm": "1"}

    @hostile_settings
    @given(body=hostile(valid))
    def call(body: bytes) -> None:
        answer = session.post(f"{live_server.url}/apply-access", data=body,
                              headers={"Content-Type": "application/json"})
        assert answer.status_code < 500, answer.text[:300]
        envelope = answer.json()
        assert set(envelope) == {"code", "message"} and envelope["code"] in (0, 1)
        if envelope["code"] == 1:
            # Accepted: the worker's half must store it, never end it as an error.
            services.apply_accepted_calls()
            assert not ApplyAccessCall.objects.filter(outcome__in=["accepted", "error"]).exists()

    call()
    services.apply_accepted_calls()
    assert not ApplyAccessCall.objects.filter(outcome__in=["accepted", "error"]).exists()


@pytest.mark.parametrize("kind", [MonitoringPoint.Kind.FACE_PANEL, MonitoringPoint.Kind.VEHICLE_SNAPSHOT])
def test_it_answers_hostile_text_and_nesting_at_the_device_api_and_stores_what_it_accepted(live_server, community_a,
                                                                                         kind):
    from devices.models import DeviceEvent
    from tests.device_helpers import capture_b64

    session = requests.Session()
    key = make_device(community_a, kind)[1]
    ResidentFactory(community=community_a, city_owner_id="owner-777", status="active")
    moment = (timezone.now() - timedelta(minutes=5)).astimezone(ZoneInfo("Asia/Shanghai"))
    url, good = (("/api/v1/devices/pass-events", {"person": "owner-777", "image": capture_b64(1280, 960)})
                 if kind == MonitoringPoint.Kind.FACE_PANEL else
                 ("/api/v1/devices/car-snapshots", {"plate": "川A12345", "plateType": "02", "passType": "0",
                                                    "images": [capture_b64(1280, 960)]}))
    serial = iter(range(10**6))

    @hostile_settings
    @given(body=hostile({"time": f"{moment:%Y-%m-%d %H:%M:%S}", "eventId": "e", "person": "owner-777"}
                        if kind == MonitoringPoint.Kind.FACE_PANEL else
                        {"time": f"{moment:%Y-%m-%d %H:%M:%S}", "eventId": "e", "plateType": "02"}))
    def call(body: bytes) -> None:
        number = next(serial)
        # A valid event first, then the hostile one (the valid one was committed before the bad one crashed).
        first = json.dumps({**good, "time": f"{moment:%Y-%m-%d %H:%M:%S}", "eventId": f"ok-{number}"}).encode()
        hostile_event = body.replace(b'"e"', f'"h-{number}"'.encode())
        batch = b"[" + first + b"," + hostile_event + b"]"
        before = DeviceEvent.objects.count()
        answer = session.post(f"{live_server.url}{url}", data=batch,
                              headers={"Content-Type": "application/json", "Authorization": f"Token {key}"})
        assert answer.status_code < 500, answer.text[:300]
        result = answer.json()
        stored = DeviceEvent.objects.count() - before
        if answer.status_code == 200:
            assert stored == result["accepted"] and result["results"][0]["status"] == "accepted"
        else:
            assert isinstance(result["detail"], str) and stored == 0

    call()
