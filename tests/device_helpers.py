"""Helpers shared by the device tests: devices with keys, and cached generated photos."""

from __future__ import annotations

import base64
from functools import cache

from communities.models import MonitoringPoint
from devices.keys import issue_device_key
from devices.models import Device
from tests import photos
from tests.factories import PointFactory


def make_device(community, kind: str = MonitoringPoint.Kind.FACE_PANEL, **point_fields) -> tuple[Device, str]:
    point = PointFactory(community=community, kind=kind, **point_fields)
    return issue_device_key(point=point, name=f"{kind} device", acting_user=None)


def auth(key: str, language: str = "en") -> dict[str, str]:
    """Headers of a device request. English answers by default, so tests can match the reasons;
    without Accept-Language the portal answers in Chinese."""
    return {"HTTP_AUTHORIZATION": f"Token {key}", "HTTP_ACCEPT_LANGUAGE": language}


@cache
def capture(width: int = 1920, height: int = 1080, seed: int = 1) -> bytes:
    """A camera frame as a device sends it: a JPEG of realistic size."""
    return photos.jpeg_bytes(photos.photo(width, height, seed=seed))


@cache
def capture_b64(width: int = 1920, height: int = 1080, seed: int = 1) -> str:
    return base64.b64encode(capture(width, height, seed)).decode()
