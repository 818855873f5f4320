"""Shared fixtures. Personas for tenancy (healthchecks style):

- Alice is property staff of community A; Bob is her colleague in A;
- Charlie is property staff of community B only, so he has no access to A;
- Gary is the guard of community A; Root is the platform administrator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import translation

from communities.models import Community, Room
from tests.factories import (
    BuildingFactory,
    CommunityFactory,
    GuardFactory,
    MembershipFactory,
    RoomFactory,
    UserFactory,
)
from tests.processes import ManagedProcess, start_worker
from tests.terminal_helpers import fake_vendor  # noqa: F401 - the fake terminal vendor, for every terminals test
from tests.terminal_sim import sandbox_terminal, start_sandbox_terminal  # noqa: F401 - fixtures


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the translation catalogues (as `make test` does) so that a plain `pytest` on a fresh
    checkout tests the Chinese messages too. Cheap: only stale .mo files are rebuilt."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("compilemessages", root / "scripts" / "compilemessages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()


@pytest.fixture
def community_a(db):
    return CommunityFactory(name="锦江花园", city_id="CITY-A", district="锦江区", street="观音桥55号")


@pytest.fixture
def community_b(db):
    return CommunityFactory(name="青羊小区", city_id="CITY-B", district="青羊区", street="草市街1号")


@pytest.fixture
def alice(community_a):
    return MembershipFactory(user=UserFactory(username="alice"), community=community_a).user


@pytest.fixture
def bob(community_a):
    return MembershipFactory(user=UserFactory(username="bob"), community=community_a).user


@pytest.fixture
def charlie(community_b):
    return MembershipFactory(user=UserFactory(username="charlie"), community=community_b).user


@pytest.fixture
def gary(community_a):
    return GuardFactory(community=community_a, name="门卫老王", phone="13900000001").user


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A folder for a test's artefacts (screenshots, logs), kept after the run."""
    folder = Path(__file__).resolve().parent.parent / "test-output" / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def celery_worker(transactional_db, output_dir: Path) -> Iterator[ManagedProcess]:
    """A real Celery worker process (prefork, 2 children) on the test database and broker."""
    worker = start_worker(output_dir)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def sandbox_city(output_dir: Path) -> Iterator:
    """The sandbox city platform as a real process on a free port; yields a SandboxClient with
    ``.url`` (pass it to workers as CITY_PLATFORM_BASE_URL) and ``.process``. It accepts the demo
    credentials and the factories' (client / client-secret / site-user / site-password)."""
    import re
    import sys

    from sandbox.city import SandboxClient
    from tests.processes import child_env

    process = ManagedProcess("sandbox-city", [
        sys.executable, "-m", "sandbox.city", "--port", "0",
        "--credentials", "demo-client:demo-secret:demo-site:demo-password",
        "--credentials", "client:client-secret:site-user:site-password"], output_dir, child_env())
    try:
        process.wait_for_output("sandbox city listening on", timeout=60)
        url = re.search(r"listening on (http://\S+?)/?$", process.output(), re.M).group(1)
        client = SandboxClient(url)
        client.process = process
        yield client
    finally:
        process.stop()


@pytest.fixture
def login_cache(settings):
    """An empty cache before and after: the login lock's counters live there."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def english() -> Iterator[None]:
    """Messages in English, for tests that assert the msgids (``pytestmark = pytest.mark.usefixtures("english")``)."""
    with translation.override("en"):
        yield


@pytest.fixture
def rooms(community_a: Community) -> list[Room]:
    """Three rooms of community A: 1栋1单元3楼01–03号."""
    building = BuildingFactory(community=community_a, number="1")
    return [RoomFactory(building=building, unit="1", floor="3", number=f"0{n}") for n in range(1, 4)]


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    # Applies before any persona is created: the production hasher would make the suite take minutes longer.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database; on PostgreSQL, a session a stopped child process left open (a worker's
    pool child still closing) is ended before the database is dropped, so the drop does not fail on it."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", [connection.settings_dict["NAME"]])
