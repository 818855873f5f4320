"""Tenancy in the admin, generated over the admin registry: for every registered model (and every inline
model) there is one object in community A and one in B, and each role — platform administrator (root),
staff of A (alice), staff of B (charlie), guard of A (gary), anonymous — is checked on the changelist,
change, history and delete pages, the bulk delete action, the form choices, autocomplete and the raw-id
popup. A model registered without a builder here fails ``test_it_has_a_builder_for_every_admin_model``,
so a new model cannot be forgotten."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Model
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from communities.admin_scope import CommunityScopedMixin, SuperuserOnlyMixin, community_path_of, scoped_queryset
from communities.models import Community, ProvincialCredential, SupportContact
from devices.keys import issue_device_key
from residents.models import ResidentChange
from tests.admin_forms import admin_post_data, all_forms
from tests.factories import (
    BuildingFactory,
    GuardFactory,
    MembershipFactory,
    PointFactory,
    ResidentFactory,
    RoomFactory,
    SiteCredentialFactory,
    UserFactory,
)
from uploads.models import Endpoint, OutboxRecord, UploadBatch

User = get_user_model()
Builder = Callable[[Community, str], Model]


def _community(community: Community, tag: str) -> Model:
    return community


def _user(community: Community, tag: str) -> Model:
    return MembershipFactory(community=community, user=UserFactory(username=f"staff-{tag}")).user


def _provincial(community: Community, tag: str) -> Model:
    return ProvincialCredential.objects.create(community=community, login=f"prov-{tag}", password=f"prov-pw-{tag}",
                                               auth_info=f"prov-auth-{tag}")


def _device_event(community: Community, tag: str) -> Model:
    device = BUILDERS["devices.Device"](community, f"event-{tag}")
    return apps.get_model("devices.DeviceEvent").objects.create(
        community=community, device=device, point=device.point, kind="face", occurred_at=timezone.now())


def _refused_event(community: Community, tag: str) -> Model:
    device = BUILDERS["devices.Device"](community, f"event-{tag}")
    return apps.get_model("devices.RefusedEvent").objects.create(
        community=community, device=device, point=device.point, kind="face", index=0, field="passDate",
        reason="必须是日期", errors=[{"field": "passDate", "reason": "必须是日期"}])


def _terminal(community: Community, tag: str) -> Model:
    from terminals.registry import register_terminal

    return register_terminal(point=PointFactory(community=community), vendor="hikvision",
                             base_url=f"http://127.0.0.1:9/{tag}", username=f"term-{tag}",
                             password=f"term-pw-{tag}").terminal


def _terminal_member(community: Community, tag: str) -> Model:
    return apps.get_model("terminals.TerminalMember").objects.create(
        terminal=_terminal(community, f"member-{tag}"), resident_id=ResidentFactory(community=community).pk,
        employee_no=f"R-{tag}", present=True, name=f"成员{tag}", status="refused", refusal_code="library_full",
        refusal_reason="人脸库已满")


def _change(community: Community, tag: str) -> Model:
    return ResidentChange.objects.create(resident=ResidentFactory(community=community), actor_label=f"city-{tag}",
                                         to_status="active", reason=f"reason-{tag}")


# One object per community for every model the admin shows. Keyed by model; the tag ("a"/"b") keeps
# unique fields apart.
BUILDERS: dict[str, Builder] = {
    "communities.Community": _community,
    "auth.User": _user,
    "auth.Group": lambda community, tag: Group.objects.create(name=f"group-{tag}"),
    "communities.SupportContact": lambda community, tag: SupportContact.objects.create(
        community=community, name=f"支持{tag}", phone="13800000000"),
    "communities.SiteCredential": lambda community, tag: SiteCredentialFactory(
        community=community, client_secret=f"client-secret-{tag}", password=f"site-pw-{tag}"),
    "communities.ProvincialCredential": _provincial,
    "communities.Building": lambda community, tag: BuildingFactory(community=community),
    "communities.Room": lambda community, tag: RoomFactory(building__community=community),
    "communities.Guard": lambda community, tag: GuardFactory(
        community=community, phone="1370000000" + ("1" if tag == "a" else "2")),
    "communities.Membership": lambda community, tag: MembershipFactory(
        community=community, user=UserFactory(username=f"member-{tag}")),
    "residents.Resident": lambda community, tag: ResidentFactory(community=community),
    "residents.ResidentChange": _change,
    "residents.ResidentProposal": lambda community, tag: apps.get_model("residents.ResidentProposal").objects.create(
        resident=ResidentFactory(community=community), ywlsh=f"YW-P-{tag}", data="{}"),
    "residents.ApplyAccessCall": lambda community, tag: apps.get_model("residents.ApplyAccessCall").objects.create(
        community=community, community_city_id=community.city_id, ywlsh=f"YW-{tag}", summary=f"call-{tag}"),
    "residents.ImportJob": lambda community, tag: apps.get_model("residents.ImportJob").objects.create(
        community=community, file=f"imports/{tag}.xlsx", original_name=f"名单-{tag}.xlsx"),
    "communities.MonitoringPoint": lambda community, tag: PointFactory(community=community),
    "devices.Device": lambda community, tag: issue_device_key(
        point=PointFactory(community=community), name=f"panel-{tag}", acting_user=None)[0],
    "devices.DeviceEvent": _device_event,
    "devices.RefusedEvent": _refused_event,
    "security.AuditEvent": lambda community, tag: apps.get_model("security.AuditEvent").objects.create(
        kind=apps.get_model("security.AuditEvent").Kind.values[0], username=f"audit-{tag}", community=community),
    "uploads.LinkState": lambda community, tag: apps.get_model("uploads.LinkState").objects.get_or_create(
        community=community, defaults={"last_error": f"link-{tag}"})[0],
    "uploads.OutboxRecord": lambda community, tag: OutboxRecord.objects.create(
        community=community, endpoint=Endpoint.PASS_RECORD, fields={"userId": f"u-{tag}"}),
    "terminals.Terminal": _terminal,
    "terminals.TerminalMember": _terminal_member,
    "uploads.UploadBatch": lambda community, tag: UploadBatch.objects.create(
        community=community, endpoint=Endpoint.PASS_RECORD),
}


def _inline_models(model_admin: admin.ModelAdmin) -> list[type[Model]]:
    return [inline.model for inline in model_admin.inlines]


REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)
SCOPED_ADMINS = [m for m in REGISTERED if isinstance(admin.site._registry[m], CommunityScopedMixin)]
ALL_MODELS = sorted({*REGISTERED, *(i for m in REGISTERED for i in _inline_models(admin.site._registry[m]))},
                    key=lambda m: m._meta.label)
STAFF = ["alice", "charlie"]


def _label(model: type[Model]) -> str:
    return model._meta.label


@dataclass
class World:
    a: Community
    b: Community
    objects: dict[type[Model], dict[str, Model]]
    users: dict[str, Model]
    clients: dict[str, Client]

    def request_of(self, persona: str) -> object:
        """A stand-in request for calling admin permission methods directly."""
        return type("Request", (), {"user": self.users[persona]})()

    def own(self, persona: str) -> str:
        return "a" if persona == "alice" else "b"

    def other(self, persona: str) -> str:
        return "b" if persona == "alice" else "a"

    def community(self, tag: str) -> Community:
        return self.a if tag == "a" else self.b


@pytest.fixture
def world(community_a, community_b, alice, charlie, gary, root) -> World:
    # Models without a builder fail test_it_has_a_builder_for_every_admin_model (and their own cases).
    builders = {model: BUILDERS[_label(model)] for model in ALL_MODELS if _label(model) in BUILDERS}
    objects = {model: {"a": build(community_a, "a"), "b": build(community_b, "b")} for model, build in builders.items()}
    users = {"root": root, "alice": alice, "charlie": charlie, "gary": gary}
    clients = {}
    for name, user in users.items():
        clients[name] = Client()
        clients[name].force_login(user)
    clients["anonymous"] = Client()
    return World(community_a, community_b, objects, users, clients)


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _belongs_to(obj: Model, community: Community) -> bool:
    path = community_path_of(type(obj))
    if path is None:
        return False
    if path == "pk":
        return obj.pk == community.pk
    return type(obj)._default_manager.filter(pk=obj.pk, **{path: community}).exists()


def _snapshot(obj: Model) -> dict:
    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return model_to_dict(fresh) if fresh is not None else {}


def test_it_has_a_builder_for_every_admin_model():
    missing = [_label(m) for m in ALL_MODELS if _label(m) not in BUILDERS]
    assert missing == [], f"add a builder to BUILDERS in {__file__} for {missing}"


def test_it_scopes_or_restricts_every_admin():
    """Every admin is either community-scoped or for platform administrators only."""
    loose = [_label(m) for m, a in admin.site._registry.items()
             if not isinstance(a, (CommunityScopedMixin, SuperuserOnlyMixin))]
    assert loose == []
    unscoped = [_label(m) for m in SCOPED_ADMINS if community_path_of(m) is None]
    assert unscoped == []
    for model in REGISTERED:
        for inline in admin.site._registry[model].inlines:
            assert issubclass(inline, CommunityScopedMixin), inline
            assert community_path_of(inline.model) is not None, inline


@pytest.mark.parametrize("model", REGISTERED, ids=_label)
@pytest.mark.parametrize("persona", ["anonymous", "gary"])
def test_it_keeps_guards_and_strangers_out_of_the_admin(world: World, model: type[Model], persona: str):
    client = world.clients[persona]
    obj = world.objects[model]["a"]
    for url in (_url(model, "changelist"), _url(model, "add"), _url(model, "change", obj.pk),
                _url(model, "delete", obj.pk), _url(model, "history", obj.pk)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    before = _snapshot(obj)
    client.post(_url(model, "delete", obj.pk), {"post": "yes"})
    assert _snapshot(obj) == before


def test_it_refuses_an_admin_login_to_a_guard(world: World):
    client = Client()
    response = client.post(reverse("admin:login"), {"username": "13900000001", "password": "password-for-tests-1"})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("model", REGISTERED, ids=_label)
def test_it_shows_everything_to_the_platform_administrator(world: World, model: type[Model]):
    response = world.clients["root"].get(_url(model, "changelist"))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert {world.objects[model]["a"].pk, world.objects[model]["b"].pk} <= shown
    for tag in ("a", "b"):
        assert world.clients["root"].get(_url(model, "change", world.objects[model][tag].pk)).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_lists_only_the_staffs_own_community(world: World, model: type[Model], persona: str):
    client, own, other = world.clients[persona], world.own(persona), world.other(persona)
    response = client.get(_url(model, "changelist"))
    if model not in SCOPED_ADMINS:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert world.objects[model][own].pk in shown
    assert world.objects[model][other].pk not in shown
    html = response.content.decode()
    stranger = world.community(other)
    # Not even in the filter sidebar or a column.
    assert stranger.name not in html
    assert stranger.city_id not in html


@pytest.mark.parametrize("model", REGISTERED, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_refuses_another_communitys_object(world: World, model: type[Model], persona: str):
    client, other = world.clients[persona], world.other(persona)
    obj = world.objects[model][other]
    before = _snapshot(obj)
    for view in ("change", "history", "delete"):
        response = client.get(_url(model, view, obj.pk), follow=True)
        assert response.redirect_chain or response.status_code in (403, 404), view
        html = response.content.decode()
        assert world.community(other).name not in html, view
    client.post(_url(model, "change", obj.pk), {"name": "hijacked"})
    client.post(_url(model, "delete", obj.pk), {"post": "yes"})
    client.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk],
                                             "post": "yes"})
    assert _snapshot(obj) == before


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_lets_staff_open_their_own_objects(world: World, model: type[Model], persona: str):
    client, own, other = world.clients[persona], world.own(persona), world.other(persona)
    response = client.get(_url(model, "change", world.objects[model][own].pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.community(other).name not in html
    assert world.community(other).city_id not in html


def _choice_problems(world: World, persona: str, forms: list) -> list[str]:
    """Choices in any form field that belong to the other community (or are its logins)."""
    other = world.community(world.other(persona))
    problems = []
    for form in forms:
        own_pk = form._meta.model._meta.pk.name if hasattr(form, "_meta") else None
        for name, field in form.fields.items():
            # A formset's hidden row id is not a choice: Django looks rows up in the parent's own set.
            if name == own_pk or not isinstance(field, (ModelChoiceField, ModelMultipleChoiceField)):
                continue
            for obj in field.queryset:
                if _belongs_to(obj, other):
                    problems.append(f"{form.prefix or ''}{name}: {obj!r}")
                if isinstance(obj, User) and obj.memberships.filter(community=other).exists():
                    problems.append(f"{name}: login {obj.username}")
    return problems


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_offers_only_own_community_choices(world: World, model: type[Model], persona: str):
    client, own = world.clients[persona], world.own(persona)
    pages = [_url(model, "change", world.objects[model][own].pk)]
    if admin.site._registry[model].has_add_permission(world.request_of(persona)):
        pages.append(_url(model, "add"))
    for page in pages:
        response = client.get(page, follow=True)  # an add page may redirect to its own upload form
        assert response.status_code == 200, page
        assert _choice_problems(world, persona, all_forms(response)) == [], page


def _relations() -> list[tuple[type[Model], str, type[Model]]]:
    """Every (model, foreign key, related model) whose related model has an admin with search."""
    found = []
    for model in ALL_MODELS:
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and (field.many_to_one or field.one_to_one or field.many_to_many):
                remote = field.related_model
                if remote in admin.site._registry:
                    found.append((model, field.name, remote))
    return found


@pytest.mark.parametrize("relation", _relations(), ids=lambda r: f"{_label(r[0])}.{r[1]}")
@pytest.mark.parametrize("persona", STAFF)
def test_it_scopes_autocomplete(world: World, relation: tuple, persona: str):
    model, field_name, remote = relation
    client, other = world.clients[persona], world.other(persona)
    response = client.get(reverse("admin:autocomplete"), {
        "app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field_name,
        "term": ""})
    if response.status_code in (403, 404):  # no access to the remote admin, or it has no search
        return
    assert response.status_code == 200
    ids = {int(result["id"]) for result in response.json()["results"]}
    assert world.objects[remote][other].pk not in ids
    assert ids <= set(scoped_queryset(remote, world.request_of(persona)).values_list("pk", flat=True))


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_scopes_raw_id_popups_and_url_lookups(world: World, model: type[Model], persona: str):
    client, other = world.clients[persona], world.other(persona)
    stranger = world.objects[model][other]
    path = community_path_of(model)
    lookup = "pk" if path == "pk" else f"{path}__id__exact"
    for params in ({"_popup": "1", "_to_field": "id"}, {lookup: world.community(other).pk},
                   {"_popup": "1", "_to_field": "id", "q": str(stranger)}):
        response = client.get(_url(model, "changelist"), params)
        if response.status_code == 302:  # Django refused the lookup (?e=1)
            continue
        assert response.status_code == 200, params
        assert stranger.pk not in {obj.pk for obj in response.context["cl"].result_list}, params


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_refuses_a_foreign_key_to_another_community(world: World, model: type[Model], persona: str):
    """Posting an add form with any relation pointing into the other community (a tampered select)."""
    client, other = world.clients[persona], world.other(persona)
    if not admin.site._registry[model].has_add_permission(world.request_of(persona)):
        assert client.get(_url(model, "add")).status_code in (302, 403)
        return
    page = client.get(_url(model, "add"), follow=True)
    form = all_forms(page)[0]
    relations = {name: field.queryset.model for name, field in form.fields.items()
                 if isinstance(field, ModelChoiceField) and field.queryset.model in world.objects}
    for name, related in relations.items():
        data = admin_post_data(page)
        data[name] = world.objects[related][other].pk
        count = model._default_manager.count()
        response = client.post(page.request["PATH_INFO"], data)
        assert response.status_code == 200, name  # the form again, not a redirect to the saved object
        errors = (response.context["adminform"].form if "adminform" in response.context
                  else response.context["form"]).errors
        assert name in errors, name
        assert model._default_manager.count() == count, name


def _object_urls(model: type[Model]) -> list[tuple[str, dict]]:
    """Every named URL of the model's admin (custom views included) that takes parameters."""
    urls = []
    for pattern in admin.site._registry[model].get_urls():
        converters = getattr(pattern.pattern, "converters", {})
        if pattern.name and converters:
            urls.append((pattern.name, converters))
    return urls


def _stranger_kwargs(world: World, model: type[Model], other: str, converters: dict) -> dict:
    """A community parameter gets the other community's id, a string (an export kind) any value
    (the community is checked first), any other id the other community's object of this model."""
    kwargs = {}
    for param, converter in converters.items():
        if "community" in param:
            kwargs[param] = world.community(other).pk
        elif type(converter).__name__ in ("StringConverter", "PathConverter", "SlugConverter"):
            kwargs[param] = "residents" if param != "object_id" else str(world.objects[model][other].pk)
        else:
            kwargs[param] = world.objects[model][other].pk
    return kwargs


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_refuses_every_object_url_of_another_community(world: World, model: type[Model], persona: str):
    """Custom admin views (downloads, exports, key pages, confirmations) included: another community's
    ids get a redirect into the admin, 403, 404 or 405 — never the page or the file."""
    client, other = world.clients[persona], world.other(persona)
    stranger = world.objects[model][other]
    before = _snapshot(stranger)
    urls = _object_urls(model)
    assert urls  # at least change, delete and history
    for name, converters in urls:
        url = reverse(f"admin:{name}", kwargs=_stranger_kwargs(world, model, other, converters))
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in (302, 403, 404, 405), (url, method.__name__, response.status_code)
            if response.status_code == 302:  # to the admin (index, login, list), never to a file
                assert response["Location"].startswith("/admin/"), (url, response["Location"])
    assert _snapshot(stranger) == before  # no confirm/cancel/revoke/resume went through


@pytest.mark.parametrize("model", SCOPED_ADMINS, ids=_label)
@pytest.mark.parametrize("persona", STAFF)
def test_it_never_names_another_community_on_any_admin_page(world: World, model: type[Model], persona: str):
    """Every parameterless admin page (lists, add forms, uploads, export and link overviews)."""
    client, other = world.clients[persona], world.community(world.other(persona))
    for pattern in admin.site._registry[model].get_urls():
        if not pattern.name or getattr(pattern.pattern, "converters", {}):
            continue
        response = client.get(reverse(f"admin:{pattern.name}"), follow=True)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        assert other.name not in html and other.city_id not in html, pattern.name
