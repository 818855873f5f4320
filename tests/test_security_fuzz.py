"""Fuzzing the APIs against their OpenAPI schema (security/schema.py) over a live server: schemathesis draws
bodies that fit the schema and bodies that do not, for apply-access and every device endpoint; no answer may be a
5xx, every answer must be in its envelope and match the schema (status, content type, body). The validators get
hypothesis property tests in tests/test_security_properties.py."""

from __future__ import annotations

import os
import re

import pytest
import requests
import schemathesis
from django.test import Client
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

from devices.models import MonitoringPoint
from residents import services
from residents.models import ApplyAccessCall
from tests.device_helpers import make_device
from tests.factories import ResidentFactory

pytestmark = pytest.mark.django_db(transaction=True)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and mode: quick enough for every run; FUZZ_EXAMPLES=500 for a deeper hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
KIND_OF = {"/api/v1/devices/face-snapshots": MonitoringPoint.Kind.FACE_SNAPSHOT,
           "/api/v1/devices/car-snapshots": MonitoringPoint.Kind.VEHICLE_SNAPSHOT}


@pytest.fixture
def api_schema():  # noqa: ANN201
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


def fuzz(operation, mode: GenerationMode, key: str, photo_id: int, base_url: str):  # noqa: ANN001, ANN201
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), with_key=st.booleans())
    def call(case, with_key: bool) -> None:  # noqa: ANN001
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
