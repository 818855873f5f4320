"""Shared by the terminals tests: the fake vendor registered, terminals at face-panel points, residents with
photos."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile

from residents.models import Resident
from terminals.models import Terminal
from terminals.registry import register_terminal
from terminals.vendors import VENDORS
from tests import terminal_fake
from tests.device_helpers import capture
from tests.factories import PointFactory, ResidentFactory


@pytest.fixture
def fake_vendor() -> Iterator[type[terminal_fake.FakeTerminal]]:
    VENDORS["fake"] = "tests.terminal_fake.FakeDriver"
    terminal_fake.TERMINALS.clear()
    yield terminal_fake.FakeTerminal
    VENDORS.pop("fake", None)
    terminal_fake.TERMINALS.clear()


def make_terminal(community, url: str = "http://127.0.0.1:9/a", **point_fields) -> Terminal:
    point = PointFactory(community=community, **point_fields)
    return register_terminal(point=point, vendor="fake", base_url=url, username="admin", password="pw-1234").terminal


def with_photo(resident: Resident, seed: int = 1) -> Resident:
    resident.photo.save(f"face-{seed}.jpg", ContentFile(capture(800, 600, seed=seed)))
    return resident


def resident_with_photo(community, seed: int = 1, **fields) -> Resident:
    return with_photo(ResidentFactory(community=community, **fields), seed)
