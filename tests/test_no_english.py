"""No visible English on any page in Chinese (issue 14): every admin page of every registered model
(changelist, add, change, history, delete confirmation), every custom admin URL, a few forms posted
with errors (Django's password rules, the phone rule) and the guards' pages, with the demo data and one
object of every model, as the platform administrator and as property staff, in zh-hans.

Visible text = text nodes outside <script>/<style>, plus the placeholder and title attributes and the
labels of submit buttons. Allowed: URLs, e-mail addresses, anything with a digit (IDs, dates, codes
such as DEMO-PP-001), and the ASCII words in ALLOWED, each with its reason. Any other word of three or
more ASCII letters fails the test, named with its page."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from residents.excel.exports import EXPORTS
from residents.models import Resident, ResidentChange
from residents.services import CITY_ACTOR, REGISTERED_REASON
from tests.factories import ResidentFactory
from tests.test_tenancy_admin import ALL_MODELS, BUILDERS, REGISTERED
from uploads.client import REFUSED_CREDENTIALS, refusal_text

# Word → why it may stay in ASCII on a Chinese page.
ALLOWED: dict[str, str] = {
    # The product and its contract with the city: field names and codes as the city's manual spells them,
    # always shown beside their Chinese meaning.
    "afxq": "the product's name",
    "portal": "the product's name (afxq-portal)",
    "FACE": "contract code (way of passing)", "USER": "contract code (person type)",
    "PROPERTY_STAFF": "contract code (person type)", "THE_WAITER": "contract code (person type)",
    "VISITOR": "contract code (person type)", "THIRDPARTY_CLIENT": "contract code (source)",
    "outId": "contract field", "userId": "contract field", "policePointId": "contract field",
    "communityId": "contract field", "ownerId": "contract field", "ywlsh": "contract field (business serial)",
    "openDate": "contract field", "type": "contract field (the pass record's person type: USER …)", "passDate": "contract field", "inout": "contract field",
    "imageBase64": "contract field", "bigImageBase64": "contract field", "photoBase1": "contract field",
    "apply-access": "contract path (interface 1)", "person-inout-info": "contract endpoint (pass records)",
    "image": "contract endpoints image/people, image/car (the rest of the path is stripped as a path)",
    "secret": "interface 2's term, beside its meaning: 客户端密钥（client secret）",
    "invalid_grant": "OAuth error code of the city's answer, shown beside its meaning",
    "hikvision": "a terminal vendor's name (the driver's key, in the devices' names)",
    "Hikvision": "a terminal vendor's name, beside 海康威视",
    "JPEG": "file format", "PNG": "file format", "zip": "file extension (.zip)",
    "Control": "a key's name, in Django's Chinese help of multiple selection",
    "Command": "a key's name (Mac), same sentence", "Mac": "the computer's name, same sentence",
    "LDAP": "a protocol's name, in Django's Chinese help text of the login's password", "Excel": "product name (Microsoft Excel)", "xlsx": "file extension",
    "UUID": "identifier format", "JSON": "data format", "Fernet": "encryption scheme name",
    "HTTP": "protocol", "HTTPS": "protocol", "SMTP": "protocol", "URL": "standard abbreviation",
    "OpenAPI": "the schema's name", "API": "standard abbreviation",
    "Django": "the framework's name (admin footer and titles)",
    "English": "the language switcher's own name for English",
    # The test data, as whole tokens only (the words alone stay detectable): logins, tags and names the
    # builders, the personas and the demo create. Data, not interface.
    "alice": "persona login", "root": "persona login", "admin": "demo login", "staff": "demo login",
    "city-a": "builder actor label", "reason-a": "builder reason", "call-a": "builder call summary",
    "link-a": "builder link error", "audit-a": "builder audit login", "event-a": "builder device name",
    "panel-a": "builder device name", "panel-event-a": "builder device name (of the device event)", "group-a": "builder group", "prov-a": "builder provincial login",
    "prov-auth-a": "builder provincial auth_info", "staff-a": "builder login", "member-a": "builder login",
    "client": "factory credential client_id; interface 2's term client secret (客户端密钥)", "site-user": "factory credential username",
    "demo-client": "demo credential client_id", "demo-site": "demo credential username",
    "CITY-A": "community city id (fixture)",
}

_SKIP = {"script", "style", "template"}
_URL = re.compile(r"(?:https?://|/)[\w\-./?=&%#:~+]*|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_WORD = re.compile(r"[A-Za-z]{3,}")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
            return
        values = dict(attrs)
        for name in ("placeholder", "title"):
            if values.get(name):
                self.parts.append(values[name])
        if tag == "input" and values.get("type") in ("submit", "button", "reset") and values.get("value"):
            self.parts.append(values["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def english_words(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    found = []
    for part in parser.parts:
        for token in _TOKEN.findall(_URL.sub(" ", part)):
            if any(c.isdigit() for c in token) or token in ALLOWED:
                continue
            found += [w for w in _WORD.findall(token) if w not in ALLOWED and token.strip(".-") not in ALLOWED]
    return sorted(set(found))


def test_it_finds_english_and_lets_codes_through():
    html = ('<p title="Save it">保存 userId FACE 13900000000 DEMO-PP-001 http://127.0.0.1:8090/x a@example.com</p>'
            '<script>var english = 1</script><input type="submit" value="Delete">')
    assert english_words(html) == ["Delete", "Save"]


def _world(community: Model) -> dict[type[Model], Model]:
    objects = {model: BUILDERS[model._meta.label](community, "a") for model in ALL_MODELS}
    # History as the city and a guard write it, and a halted link: the texts the system stores.
    resident = objects[Resident]
    objects[ResidentChange] = ResidentChange.objects.create(resident=resident, actor_label=CITY_ACTOR, from_status="pending",
                                  to_status="active", reason=REGISTERED_REASON, at=timezone.now())
    community.uploads_halted_reason = refusal_text(REFUSED_CREDENTIALS, answer="invalid_grant",
                                                   description="Bad credentials")
    community.save(update_fields=["uploads_halted_reason"])
    return objects


def _admin_urls(objects: dict[type[Model], Model], community: Model) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change"), reverse("admin:password_change_done")]
    for model in REGISTERED:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        obj = objects[model]
        urls += [reverse(f"{info}_changelist"), reverse(f"{info}_add"), reverse(f"{info}_change", args=[obj.pk]),
                 reverse(f"{info}_history", args=[obj.pk]), reverse(f"{info}_delete", args=[obj.pk])]
        urls.append(reverse("admin:app_list", args=[model._meta.app_label]))
        for pattern in admin.site._registry[model].get_urls():
            name = pattern.name
            if not name or name.endswith(("_changelist", "_add", "_change", "_history", "_delete", "_autocomplete")):
                continue
            converters = getattr(pattern.pattern, "converters", {})
            if "kind" in converters:
                urls += [reverse(f"admin:{name}", kwargs={"kind": kind, "community_id": community.pk})
                         for kind in EXPORTS]
                continue
            kwargs = {}
            for param in converters:
                if "community" in param:
                    kwargs[param] = community.pk
                elif param == "id":
                    kwargs[param] = obj.pk
                else:  # job_id, object_id: this model's object
                    kwargs[param] = str(obj.pk) if param == "object_id" else obj.pk
            urls.append(reverse(f"admin:{name}", kwargs=kwargs))
    return sorted(set(urls))


def _pages(client: Client, urls: list[str]) -> dict[str, str]:
    pages = {}
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code < 500, (url, response.status_code)
        if response.streaming:  # a download (an export): read to the end, which closes its file
            response.getvalue()
        elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
            pages[url] = response.content.decode()
    return pages


def _posted_with_errors(client: Client, is_root: bool) -> dict[str, str]:
    """Forms whose error messages are the rules' own texts (Django's password validators, the phone rule)."""
    pages = {}
    if is_root:
        url = reverse("admin:auth_user_add")
        pages[f"POST {url}"] = client.post(url, {"username": "newbie", "password1": "abc",
                                                 "password2": "abc"}).content.decode()
    url = reverse("admin:communities_guard_add")
    pages[f"POST {url}"] = client.post(url, {"name": "新门卫", "phone": "12345"}).content.decode()
    return pages


def _guard_pages(client: Client, resident: Resident) -> dict[str, str]:
    return _pages(client, [reverse("residents:guard-queue"), reverse("residents:guard-detail", args=[resident.pk])])


@pytest.mark.parametrize("persona", ["root", "alice"])
def test_it_shows_no_english_in_chinese(db, persona: str, request: pytest.FixtureRequest, settings) -> None:
    community = request.getfixturevalue("community_a")
    user = request.getfixturevalue(persona)
    call_command("seed_demo", stdout=io.StringIO())
    objects = _world(community)
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.cookies["django_language"] = "zh-hans"
    client.force_login(user)
    pages = _pages(client, _admin_urls(objects, community))
    pages.update(_posted_with_errors(client, persona == "root"))
    pages.update(_guard_pages(client, objects[Resident]))
    pending = ResidentFactory(community=community, status=Resident.Status.PENDING)
    pages.update(_guard_pages(client, pending))
    anonymous = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="zh-hans")
    pages.update(_pages(anonymous, [reverse("residents:guard-login"), reverse("admin:login")]))
    assert len(pages) > 60
    english = {url: words for url, html in pages.items() if (words := english_words(html))}
    assert english == {}, "\n".join(f"{url}: {words}" for url, words in english.items())


def test_it_names_the_phone_number_when_a_guards_login_fails(db, gary, login_cache):
    response = Client().post(reverse("residents:guard-login"), {"username": "13900000001", "password": "wrong"})
    html = response.content.decode()
    assert "手机号或密码不正确" in html and "用户名" not in html


def test_it_words_the_exports_page_in_its_own_terms(db, alice, community_a):
    """Words the detector cannot see: Chinese, but another page's (a msgid shared with the history or with
    the community list's count column)."""
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("admin:residents_importjob_exports")).content.decode()
    assert "<th>点位</th>" in html and "点位数" not in html
    assert "原值" not in html and "新值" not in html and "从 <input" in html and "至 <input" in html
    assert "?from=" not in html and "YYYY" not in html


def test_it_shows_a_guard_no_english(db, community_a, gary, settings) -> None:
    objects = _world(community_a)
    pending = ResidentFactory(community=community_a, status=Resident.Status.PENDING)
    client = Client(raise_request_exception=False)
    client.force_login(gary)
    client.post(reverse("residents:guard-approve", args=[pending.pk]))  # a message and a recent review
    pages = _guard_pages(client, objects[Resident])
    pages.update(_guard_pages(client, pending))
    assert len(pages) == 3  # the queue (twice the same URL), two people's pages
    english = {url: words for url, html in pages.items() if (words := english_words(html))}
    assert english == {}
