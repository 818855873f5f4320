"""Authorisation matrix generated from the URL conf: every URL pattern (the admin's included) × every role —
anonymous, platform administrator (root), staff of A (alice), staff of B (charlie), guard of A (gary), a device
of A, a device of B — against objects of their own and of the other community: no 500, the expected answer, and
never the other community's data in it.

The expectation table is EXPECTATIONS, keyed by URL name (or pattern for unnamed ones). A new URL pattern with
no entry fails ``test_it_has_an_expectation_for_every_url``, so an endpoint cannot be forgotten. The admin's
per-model URLs (changelist, add, change, history, delete, autocomplete) are generated over the admin registry in
tests/test_tenancy_admin.py (a model needs a builder there); this file names them as covered there and checks
every other admin URL here for the roles that must not get in at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from communities.models import MonitoringPoint
from residents.models import Resident
from tests.device_helpers import capture, capture_b64, make_device
from tests.factories import PointFactory, ResidentFactory

pytestmark = pytest.mark.django_db
ROLES = ["anonymous", "root", "alice", "charlie", "gary", "device_a", "device_b"]
COMMUNITY_OF = {"alice": "a", "charlie": "b", "gary": "a", "device_a": "a", "device_b": "b"}
NAMES = {"a": "甲区住户", "b": "乙区住户"}
ADMIN_MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")


def url_patterns(patterns=None, prefix: str = "", namespace: str | None = None):
    """(key, pattern) for every URL pattern: key = namespaced name, or the pattern when it has none."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n) or None
            yield from url_patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name or prefix + str(entry.pattern), prefix + str(entry.pattern)


def covered_by_admin_tenancy_test(key: str) -> bool:
    """A per-model admin URL of a registered model (tests/test_tenancy_admin.py), or its unnamed catch-all."""
    if key.startswith("admin/") and key.endswith("<path:object_id>/"):
        return True
    for model in admin.site._registry:
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if key.startswith(base) and key[len(base):] in ADMIN_MODEL_VIEWS:
            return True
    return False


@dataclass
class World:
    clients: dict[str, Client]
    residents: dict[str, Resident]
    pending: dict[str, Resident]
    keys: dict[str, str]

    def own(self, role: str) -> str:
        return COMMUNITY_OF.get(role, "a")

    def other(self, role: str) -> str:
        return "b" if self.own(role) == "a" else "a"


@pytest.fixture
def world(settings, community_a, community_b, root, alice, charlie, gary) -> World:
    settings.DEVICE_FACE_LIST_SETTLE_SECONDS = 0  # the face list shows what was just created
    residents, pending, keys = {}, {}, {}
    for tag, community in (("a", community_a), ("b", community_b)):
        residents[tag] = ResidentFactory(community=community, name=NAMES[tag])
        residents[tag].photo.save("face.jpg", ContentFile(capture(800, 600)))
        pending[tag] = ResidentFactory(community=community, name=f"{NAMES[tag]}待审", status=Resident.Status.PENDING)
        keys[tag] = make_device(community, MonitoringPoint.Kind.FACE_PANEL)[1]
    clients = {"anonymous": Client()}
    for name, user in (("root", root), ("alice", alice), ("charlie", charlie), ("gary", gary)):
        clients[name] = Client()
        clients[name].force_login(user)
    for tag in ("a", "b"):
        clients[f"device_{tag}"] = Client(HTTP_AUTHORIZATION=f"Token {keys[tag]}")
    return World(clients, residents, pending, keys)


def no_foreign_data(world: World, role: str, response: HttpResponse) -> None:
    assert response.status_code < 500
    if getattr(response, "streaming", False):
        response.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
        return
    if role == "root":
        return
    body = response.content.decode(errors="replace")
    other = world.residents[world.other(role)]
    for secret in (other.name, other.city_owner_id, other.id_card, other.phone):
        assert secret not in body, f"{role} sees {secret!r} of the other community"


def is_login_redirect(response: HttpResponse, login: str) -> bool:
    return response.status_code == 302 and response["Location"].startswith(login)


SESSION_USERS = {"root", "alice", "charlie", "gary"}
GUARD_PAGES = {"root", "alice", "charlie", "gary"}  # reviewable_communities: guards, staff and administrators


def check_guard_page(method: str, view: str, with_object: bool) -> Callable[[World, str], None]:
    def check(world: World, role: str) -> None:
        client = world.clients[role]
        targets = ["own", "other"] if with_object else ["none"]
        for target in targets:
            resident = (world.pending if view in {"approve", "reject"} else world.residents).get(
                world.own(role) if target == "own" else world.other(role))
            url = reverse(f"residents:guard-{view}", args=[resident.pk]) if with_object else reverse(
                f"residents:guard-{view}")
            data = {"reason": "证件不符"} if view == "reject" else {}
            response = client.post(url, data) if method == "POST" else client.get(url)
            no_foreign_data(world, role, response)
            if role not in GUARD_PAGES:  # anonymous and devices (a device key is no login)
                assert is_login_redirect(response, reverse("residents:guard-login")), response.status_code
            elif target == "other" and role != "root":
                assert response.status_code == 404
                resident.refresh_from_db()
                assert resident.status == (Resident.Status.PENDING if view in {"approve", "reject"}
                                           else Resident.Status.ACTIVE)
            else:
                assert response.status_code == (302 if method == "POST" else 200)
    return check


def check_resident_photo(world: World, role: str) -> None:
    for target in ("own", "other"):
        resident = world.residents[world.own(role) if target == "own" else world.other(role)]
        response = world.clients[role].get(reverse("residents:photo", args=[resident.pk]))
        response.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
        if role not in GUARD_PAGES:
            assert response.status_code in (302, 403)
        elif target == "own" or role == "root":
            assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
        else:
            assert response.status_code == 404


def check_device_api(view: str) -> Callable[[World, str], None]:
    def check(world: World, role: str) -> None:
        client = world.clients[role]
        other = world.residents[world.other(role)]
        if view == "faces":
            response = client.get(reverse("devices:faces"))
        elif view == "face-photo":
            response = client.get(reverse("devices:face-photo", args=[other.pk]))
        else:
            # An event naming the other community's person (a device sends a person id it should not know).
            body = ({"person": other.city_owner_id, "time": "2026-11-25 08:00:00", "image": capture_b64(1920, 1080)}
                    if view == "pass-events" else
                    {"passType": 0, "time": "2026-11-25 08:00:00", "images": [capture_b64(1920, 1080)],
                     "plate": "川A12345", "plateType": "02"})
            response = client.post(reverse(f"devices:{view}"), body, content_type="application/json")
        no_foreign_data(world, role, response)
        if not role.startswith("device_"):
            assert response.status_code in (401, 403)  # a session is no device key
        elif view == "face-photo":
            assert response.status_code == 404
        elif view == "faces":
            assert response.status_code == 200
            assert [f["id"] for f in response.json()["faces"]] == [str(world.residents[world.own(role)].pk)] or \
                [f["id"] for f in response.json()["faces"]] == [world.residents[world.own(role)].pk]
        elif view == "pass-events":
            result = response.json()["results"][0]
            assert response.status_code == 200 and result["status"] == "refused" and result["field"] == "person"
        else:
            assert response.status_code == 403  # a face panel's key at a snapshot endpoint
    return check


def check_apply_access(world: World, role: str) -> None:
    # The city's door: no login, whoever calls; an empty call is refused in the envelope, never a 500.
    response = world.clients[role].post("/apply-access", {}, content_type="application/json")
    assert response.status_code == 200 and response.json()["code"] == 0
    assert world.clients[role].get("/apply-access").status_code == 405


def check_schema(world: World, role: str) -> None:
    response = world.clients[role].get(reverse("security:schema"))
    assert response.status_code == (200 if role in {"root", "alice", "charlie"} else 403 if role == "gary"
                                    else response.status_code)
    if role in {"anonymous", "device_a", "device_b"}:
        assert response.status_code in (401, 403)


def check_guard_login(world: World, role: str) -> None:
    response = world.clients[role].get(reverse("residents:guard-login"))
    assert response.status_code == (302 if role in SESSION_USERS else 200)


def check_guard_logout(world: World, role: str) -> None:
    response = world.clients[role].post(reverse("residents:guard-logout"))
    assert is_login_redirect(response, reverse("residents:guard-login"))


def check_redirect(path: str, method: str = "GET") -> Callable[[World, str], None]:
    def check(world: World, role: str) -> None:
        client = world.clients[role]
        response = client.post(path, {"language": "en"}) if method == "POST" else client.get(path)
        assert response.status_code == 302
    return check


def check_media(world: World, role: str) -> None:
    # MEDIA_ROOT (outbox images of passers-by) has no route at all, not even with DEBUG.
    for path in ("/media/no-such-file.jpg", "/media/../afxq_portal/settings.py", "/media/%2e%2e/manage.py"):
        assert world.clients[role].get(path).status_code == 404


def check_admin_gate(name: str, args: tuple = ()) -> Callable[[World, str], None]:
    """Every other admin URL: only staff get in (tenancy of what they see: tests/test_tenancy_admin.py)."""
    def check(world: World, role: str) -> None:
        url = reverse(name, args=[world.residents[world.own(role)].community_id if a == "community" else a
                                  for a in args])
        response = world.clients[role].get(url)
        no_foreign_data(world, role, response)
        if role in {"anonymous", "gary", "device_a", "device_b"}:
            if name == "admin:login":
                assert response.status_code == 200
            elif name == "admin:logout":
                assert response.status_code in (302, 405)
            else:
                assert is_login_redirect(response, reverse("admin:login")) or response.status_code == 404, \
                    response.status_code
        else:
            assert response.status_code in (200, 302, 403, 404, 405)
    return check


def check_generate_rooms(world: World, role: str) -> None:
    """A custom admin URL with an object id: the other community's building is never shown or changed."""
    for target in ("own", "other"):
        building = world.residents[world.own(role) if target == "own" else world.other(role)].room.building
        url = reverse("admin:communities_building_generate_rooms", args=[building.pk])
        rooms = building.rooms.count()
        for response in (world.clients[role].get(url),
                         world.clients[role].post(url, {"units": "1", "floors": "1-2", "numbers": "01-02"})):
            no_foreign_data(world, role, response)
            if role in {"anonymous", "gary", "device_a", "device_b"}:
                assert is_login_redirect(response, reverse("admin:login"))
            elif target == "other" and role != "root":
                assert response.status_code in (302, 403, 404)
                assert building.rooms.count() == rooms


def check_terminal_test_connection(world: World, role: str) -> None:
    """A custom admin URL that calls a terminal: never for the other community's terminal (nothing is probed)."""
    from terminals.registry import register_terminal

    for target in ("own", "other"):
        community = world.residents[world.own(role) if target == "own" else world.other(role)].community
        terminal = register_terminal(point=PointFactory(community=community), vendor="hikvision",
                                     base_url=f"http://127.0.0.1:9/{role}-{target}", username="admin",
                                     password="pw").terminal
        url = reverse("admin:terminals_terminal_test_connection", args=[terminal.pk])
        response = world.clients[role].post(url)
        no_foreign_data(world, role, response)
        terminal.refresh_from_db()
        if role in {"anonymous", "gary", "device_a", "device_b"}:
            assert is_login_redirect(response, reverse("admin:login"))
            assert terminal.last_probe_at is None
        elif target == "other" and role != "root":
            assert response.status_code in (302, 403, 404) and terminal.last_probe_at is None


def check_terminal_events(world: World, role: str) -> None:
    """The terminals' receiver: the secret in the path is the only way in (no session, no device key)."""
    url = reverse("terminals:events", args=["no-such-secret"])
    assert world.clients[role].post(url, b"{}", content_type="application/json").status_code == 404
    assert world.clients[role].get(url).status_code == 405


EXPECTATIONS: dict[str, Callable[[World, str], None]] = {
    "": check_redirect("/"),
    "set_language": check_redirect("/i18n/setlang/", "POST"),
    "residents:apply-access": check_apply_access,
    "residents:guard-login": check_guard_login,
    "residents:guard-logout": check_guard_logout,
    "residents:guard-queue": check_guard_page("GET", "queue", with_object=False),
    "residents:guard-queue-state": check_guard_page("GET", "queue-state", with_object=False),
    "residents:guard-detail": check_guard_page("GET", "detail", with_object=True),
    "residents:guard-approve": check_guard_page("POST", "approve", with_object=True),
    "residents:guard-reject": check_guard_page("POST", "reject", with_object=True),
    "residents:photo": check_resident_photo,
    "devices:pass-events": check_device_api("pass-events"),
    "devices:face-snapshots": check_device_api("face-snapshots"),
    "devices:car-snapshots": check_device_api("car-snapshots"),
    "devices:faces": check_device_api("faces"),
    "devices:face-photo": check_device_api("face-photo"),
    "security:schema": check_schema,
    "admin:index": check_admin_gate("admin:index"),
    "admin:login": check_admin_gate("admin:login"),
    "admin:logout": check_admin_gate("admin:logout"),
    "admin:password_change": check_admin_gate("admin:password_change"),
    "admin:password_change_done": check_admin_gate("admin:password_change_done"),
    "admin:auth_user_password_change": check_admin_gate("admin:auth_user_password_change", (1,)),
    "admin:autocomplete": check_admin_gate("admin:autocomplete"),
    "admin:jsi18n": check_admin_gate("admin:jsi18n"),
    "admin:view_on_site": check_admin_gate("admin:view_on_site", (1, 1)),
    "admin:app_list": check_admin_gate("admin:app_list", ("residents",)),
    "admin/(?P<url>.*)$": check_admin_gate("admin:index"),
    "admin:residents_importjob_upload": check_admin_gate("admin:residents_importjob_upload"),
    "admin:residents_importjob_template": check_admin_gate("admin:residents_importjob_template", ("community",)),
    "admin:residents_importjob_exports": check_admin_gate("admin:residents_importjob_exports"),
    "admin:residents_importjob_export": check_admin_gate("admin:residents_importjob_export",
                                                         ("residents", "community")),
    "admin:residents_importjob_points": check_admin_gate("admin:residents_importjob_points"),
    "admin:residents_importjob_progress": check_admin_gate("admin:residents_importjob_progress", (1,)),
    "admin:residents_importjob_confirm": check_admin_gate("admin:residents_importjob_confirm", (1,)),
    "admin:residents_importjob_cancel": check_admin_gate("admin:residents_importjob_cancel", (1,)),
    "admin:residents_importjob_result": check_admin_gate("admin:residents_importjob_result", (1,)),
    "admin:communities_monitoringpoint_import_names": check_admin_gate("admin:communities_monitoringpoint_import_names"),
    "admin:communities_membership_add_staff": check_admin_gate("admin:communities_membership_add_staff"),
    "admin:communities_building_generate_rooms": check_generate_rooms,
    "admin:uploads_link_overview": check_admin_gate("admin:uploads_link_overview"),
    "admin:terminals_terminal_test_connection": check_terminal_test_connection,
    "terminals:events": check_terminal_events,
    "admin:uploads_link_detail": check_admin_gate("admin:uploads_link_detail", ("community",)),
    "dashboard:home": check_admin_gate("dashboard:home"),
    "dashboard:apps": check_admin_gate("dashboard:apps"),
    "dashboard:overview-data": check_admin_gate("dashboard:overview-data"),
    "dashboard:community": check_admin_gate("dashboard:community", ("community",)),
    "dashboard:community-data": check_admin_gate("dashboard:community-data", ("community",)),
}


# Routes that exist only with DEBUG on (pytest runs with it off): checked when present.
DEVELOPMENT_ONLY: set[str] = set()


@pytest.mark.parametrize("role", ROLES)
def test_it_never_serves_media_files(world, role):
    check_media(world, role)


def test_it_has_an_expectation_for_every_url():
    keys = [key for key, _pattern in url_patterns()]
    missing = [key for key in keys if key not in EXPECTATIONS and not covered_by_admin_tenancy_test(key)]
    assert missing == [], f"add these URLs to EXPECTATIONS in {__file__}: {missing}"
    stale = [key for key in EXPECTATIONS if key not in keys and key not in DEVELOPMENT_ONLY]
    assert stale == [], f"EXPECTATIONS names URLs that no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(EXPECTATIONS))
def test_it_answers_every_url_for_every_role_without_leaking_the_other_community(world, key, role):
    EXPECTATIONS[key](world, role)


@pytest.mark.parametrize("url", ["/admin/residents/resident/?status=%00", "/admin/communities/community/?q=a%00",
                                 "/guard/?x=%00", "/api/v1/devices/faces?since=%00", "/apply-access?x=%00",
                                 "/admin/residents/resident/%00/change/"])
def test_it_refuses_a_nul_character_in_the_address_instead_of_failing(world, url):
    """On PostgreSQL `?status=%00` on an admin list was an internal error (text cannot hold NUL)."""
    response = world.clients["root"].get(url)
    assert response.status_code == 400
    if url.startswith(("/api/", "/apply-access")):
        assert response.json()
