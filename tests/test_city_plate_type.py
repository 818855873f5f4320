"""CITY_PLATE_TYPE_FORMAT is the one setting for how licensePlateType reaches the city: a car snapshot sent by a
camera arrives at the sandbox city (over HTTP) as a number or as the table's two-digit code, as it says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from communities.models import MonitoringPoint
from tests.device_helpers import auth, capture_b64, make_device
from tests.factories import SiteCredentialFactory
from tests.test_device_ingest import CAR_URL, now_text
from uploads import outbox
from uploads.models import Endpoint

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.mark.parametrize(("setting", "expected"), [("number", 2), ("string", "02")])
def test_it_sends_the_city_the_plate_type_the_setting_says(client, community_a, sandbox_city, settings,
                                                          setting: str, expected: int | str) -> None:
    settings.CITY_PLATE_TYPE_FORMAT = setting
    settings.CITY_PLATFORM_BASE_URL = sandbox_city.url
    SiteCredentialFactory(community=community_a)
    _device, key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT, police_point_id="PP-CAR-1")
    response = client.post(CAR_URL, data={"plate": "川A12345", "plateType": "2", "passType": "0", "time": now_text(),
                                          "images": capture_b64()}, content_type="application/json", **auth(key))
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    outbox.drain(community_a.pk, Endpoint.CAR_SNAPSHOT)
    [car] = sandbox_city.records(Endpoint.CAR_SNAPSHOT)
    assert car["fields"]["licensePlateType"] == expected
    assert sandbox_city.stats()["rejected"] == 0


@pytest.mark.parametrize(("name", "value"), [("CITY_PLATE_TYPE_FORMAT", "numbr"), ("CITY_PLATE_TYPE_AS_NUMBER", "0")])
def test_it_refuses_to_start_with_a_wrong_plate_type_setting(name: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            env={"DJANGO_SETTINGS_MODULE": "afxq_portal.settings", "PATH": "/usr/bin:/bin", name: value},
                            timeout=60, check=False)
    assert result.returncode != 0
    assert "CITY_PLATE_TYPE" in result.stderr
