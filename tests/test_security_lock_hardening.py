"""The login locks hold for every spelling of a login and while the cache is down; ID numbers and phones are
masked in every form the validators accept (issue 12, findings 1, 6 and 9)."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from afxq_portal.pii import mask_json_text, mask_phone, mask_text
from residents.models import ApplyAccessCall
from security.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "password-for-tests-1"  # tests.factories.UserFactory
SPELLINGS = ["ｓｔａｆｆ", "𝐬𝐭𝐚𝐟𝐟", "ⓢⓣⓐⓕⓕ", "staﬀ", "Staff", " staff "]
# A Redis nobody listens on: every cache call fails at once (connection refused).
CACHE_DOWN = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": "redis://127.0.0.1:9/0", "OPTIONS": {"socket_connect_timeout": 0.5}}}


@pytest.fixture(autouse=True)
def fresh_cache(login_cache):
    return login_cache


@pytest.fixture
def staff(community_a):
    from tests.factories import MembershipFactory
    return MembershipFactory(user=UserFactory(username="staff"), community=community_a).user


def admin_login(client: Client, username: str, password: str):
    return client.post(reverse("admin:login"), {"username": username, "password": password},
                       REMOTE_ADDR="10.0.0.1", HTTP_ACCEPT_LANGUAGE="zh-hans")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_it_refuses_every_spelling_of_a_locked_admin_login(staff, settings, spelling: str) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    client = Client()
    for _ in range(5):
        admin_login(client, "staff", "wrong")
    response = admin_login(client, spelling, PASSWORD)
    assert response.status_code == 200
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_counts_wrong_passwords_under_every_spelling_as_one_login(staff, settings) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = len(SPELLINGS)
    client = Client()
    for spelling in SPELLINGS:
        admin_login(client, spelling, "wrong")
    assert "登录失败次数过多" in admin_login(client, "staff", PASSWORD).content.decode()


def test_it_refuses_other_spellings_of_a_locked_guard_phone(gary, settings) -> None:
    settings.GUARD_LOGIN_MAX_FAILURES = 3
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for spelling in ["13900000001", "１３９００００００01", "139 0000 0001"]:
        client.post("/guard/login/", {"username": spelling, "password": "wrong"})
    for spelling in ["１３９０００００００１", "139-0000-0001", "(139)00000001"]:
        response = client.post("/guard/login/", {"username": spelling, "password": PASSWORD})
        assert "尝试失败次数过多" in response.content.decode()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_LOCKED, path="/guard/login/").count() == 3


def test_it_logs_a_guard_in_with_the_phone_as_typed_on_a_phone(gary) -> None:
    response = Client().post("/guard/login/", {"username": "139 0000 0001", "password": PASSWORD})
    assert response.status_code == 302


def test_it_keeps_the_admin_lock_in_force_while_the_cache_is_down(staff, settings, caplog) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    client = Client()
    with override_settings(CACHES=CACHE_DOWN), caplog.at_level(logging.WARNING, logger="afxq.audit"):
        for _ in range(3):
            assert admin_login(client, "staff", "wrong").status_code == 200
        locked = admin_login(client, "ｓｔａｆｆ", PASSWORD)
    assert locked.status_code == 200
    assert "登录失败次数过多" in locked.content.decode()
    assert "cache unavailable" in caplog.text


def test_it_logs_in_while_the_cache_is_down_and_a_success_resets_the_count(staff, settings) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    client = Client()
    with override_settings(CACHES=CACHE_DOWN):
        admin_login(client, "staff", "wrong")
        assert admin_login(client, "staff", PASSWORD).status_code == 302
        client.logout()
        admin_login(client, "staff", "wrong")
        assert admin_login(client, "staff", PASSWORD).status_code == 302  # one failure since the last success


def test_it_keeps_the_guard_lock_in_force_while_the_cache_is_down(gary, settings) -> None:
    settings.GUARD_LOGIN_MAX_FAILURES = 2
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    with override_settings(CACHES=CACHE_DOWN):
        for _ in range(2):
            assert client.post("/guard/login/", {"username": "13900000001", "password": "wrong"}).status_code == 200
        response = client.post("/guard/login/", {"username": "13900000001", "password": PASSWORD})
    assert response.status_code == 200
    assert "尝试失败次数过多" in response.content.decode()


@pytest.mark.parametrize(("text", "clear"), [
    ("５１０１０４１９９００１０１１２３４", "５１０１０４１９９００１０１１２３４"),
    ("id 510104199001011234 ok", "199001011"),
    ("tel +8613812345678", "12345678"),
    ("tel 8613812345678", "3812345678"),
    ("tel 138 1234 5678", "1234 5678"),
    ("tel 138-1234-5678", "1234-5678"),
    ("tel (138)12345678", "12345678"),
    ("tel １３８１２３４５６７８", "１２３４５６７８"),
    ("tel ＋８６ １３８ １２３４ ５６７８", "１２３４"),
])
def test_it_masks_every_form_the_validators_accept(text: str, clear: str) -> None:
    masked = mask_text(text)
    assert clear not in masked
    assert "****" in masked


def test_it_leaves_other_text_as_it_is() -> None:
    assert mask_text("门卫，请审核：ｘｙｚ 第１２栋") == "门卫，请审核：ｘｙｚ 第１２栋"
    assert mask_text("order 12345678901234567890") == "order 12345678901234567890"


def test_it_masks_phones_in_any_form_as_a_value() -> None:
    assert mask_phone("+86 138-1234-5678") == "+86138****5678"
    assert mask_phone("１３８１２３４５６７８") == "138****5678"


def test_it_masks_json_escaped_digits_in_a_body() -> None:
    body = json.dumps({"ownerId": "５１０１０４１９９００１０１１２３４", "phone": "+8613812345678"})  # \uff15 escapes
    summary = mask_json_text(body)
    assert "1990010" not in summary and "１９９００１０" not in summary and "12345678" not in summary


def test_it_masks_an_audit_log_line_for_a_phone_login_with_a_country_code(db, caplog) -> None:
    client = Client()
    with caplog.at_level(logging.INFO, logger="afxq.audit"):
        client.post("/guard/login/", {"username": "+8613900000001", "password": "nope"}, REMOTE_ADDR="192.0.2.8")
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.LOGIN_FAILED)
    assert "13900000001" not in event.username
    assert "13900000001" not in caplog.text
    assert "0001" in event.username


def test_it_stores_the_summary_of_a_call_masked_and_encrypted(client: Client, community_a) -> None:
    from tests.test_apply_access import ID_CARD, payload, post

    full_width = ID_CARD.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    assert post(client, payload(idCard=full_width, phone="+86 138 1234 5678")).json()["code"] == 1
    call = ApplyAccessCall.objects.get()
    assert ID_CARD[6:14] not in call.summary and full_width[6:14] not in call.summary
    assert "1234" not in call.summary.replace("5101", "")
    with connection.cursor() as cursor:
        cursor.execute("SELECT summary FROM residents_applyaccesscall")
        stored = cursor.fetchone()[0]
    assert "张三" not in stored and "****" not in stored  # not readable in the database
