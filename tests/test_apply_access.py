"""POST /apply-access: every valid shape is accepted and then stored by the worker's half
(services.apply_accepted_calls, run here in-process right after each call), every bad input gets the
exact envelope and stores nothing, the call itself is kept (PII encrypted/masked), idempotency and
updates."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from communities.models import Building, Room
from residents import services
from residents.models import ApplyAccessCall, Resident, ResidentChange, ResidentProposal
from tests.factories import ResidentFactory, RoomFactory, make_id_card
from uploads.models import OutboxRecord

ID_CARD = make_id_card(1)
ID_CARD_X = next(make_id_card(n) for n in range(1, 1000) if make_id_card(n).endswith("X"))
ADDRESS = "四川省成都市锦江区观音桥55号2栋1单元31楼06号"
STANDARD = "四川省成都市锦江区观音桥55号"
T0 = 1_764_000_000_000  # 2025-11-24 16:00 UTC, epoch ms


def payload(**overrides) -> dict:
    data = {
        "address": ADDRESS, "name": "张三", "idCard": ID_CARD, "photo": "http://photos.example.com/p/1.jpg",
        "source": "01", "type": "01", "phone": "13812345678", "communityId": "CITY-A", "ownerId": "OWNER-1",
        "ywlsh": "YW-0001", "xbdm": 1, "visitTime": None, "effectiveVisitTime": None,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def post(client: Client, data, *, content_type: str = "application/json", raw: bytes | None = None,
         apply: bool = True, **extra):
    """POST a call, then do what the worker does with accepted calls (unless ``apply`` is False)."""
    body = raw if raw is not None else json.dumps(data, ensure_ascii=False).encode()
    response = client.post("/apply-access", data=body, content_type=content_type, **extra)
    if apply:
        services.apply_accepted_calls()
    return response


# --- valid shapes -------------------------------------------------------------------------------

VALID = {
    "owner": {},
    "tenant": {"type": "02"},
    "visitor with a window": {"type": "05", "visitTime": T0, "effectiveVisitTime": T0 + 86_400_000},
    "visitor, end equals start": {"type": "05", "visitTime": T0, "effectiveVisitTime": T0},
    "property staff, standard address": {"type": "03", "address": STANDARD},
    "service staff, standard address": {"type": "04", "address": STANDARD},
    "property staff sent with a room": {"type": "03"},
    "xbdm as a string": {"xbdm": "0"},
    "xbdm unknown": {"xbdm": 2},
    "optional times absent": {"visitTime": ..., "effectiveVisitTime": ...},
    "only an end": {"effectiveVisitTime": T0},
    "source 02, https photo": {"source": "02", "photo": "https://photos.example.com/a.png?sig=1"},
    "ID ending in X": {"idCard": ID_CARD_X},
    "ID with a lower-case x": {"idCard": ID_CARD_X.lower()},
    "floor written 层": {"address": "四川省成都市锦江区观音桥55号2栋1单元31层06号"},
    "full-width digits": {"address": "四川省成都市锦江区观音桥５５号２栋１单元３１楼０６号"},
    "landline phone": {"phone": "028-86001234"},
    "+86 mobile": {"phone": "+8613812345678"},
    "extra fields ignored": {"somethingNew": "x"},
    "time as an integral float": {"visitTime": float(T0)},
}


@pytest.mark.parametrize("overrides", VALID.values(), ids=VALID.keys())
def test_it_stores_every_valid_shape(client: Client, community_a, overrides: dict) -> None:
    response = post(client, payload(**overrides))
    assert response.status_code == 200
    assert response.json() == {"code": 1, "message": ""}
    resident = Resident.objects.get()
    assert resident.community == community_a
    assert resident.city_owner_id == "OWNER-1" and resident.ywlsh == "YW-0001"
    assert resident.status == Resident.Status.PENDING
    assert resident.photo_status == Resident.PhotoStatus.PENDING
    assert resident.photo_url == payload(**overrides)["photo"]
    assert resident.person_type == payload(**overrides)["type"]
    assert resident.id_card == payload(**overrides)["idCard"].upper()
    if resident.person_type in ("03", "04"):
        assert resident.room is None
    else:
        assert resident.room.building.number == "2" and resident.room.unit == "1"
        assert resident.room.floor == "31" and resident.room.number == "06"
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.STORED and call.resident == resident and call.answer_code == 1


def test_it_converts_epoch_milliseconds(client: Client, community_a) -> None:
    post(client, payload(type="05", visitTime=T0, effectiveVisitTime=T0 + 3_600_000))
    resident = Resident.objects.get()
    assert resident.valid_from.timestamp() * 1000 == T0
    assert resident.valid_until.timestamp() * 1000 == T0 + 3_600_000
    assert resident.sex == "1"


def test_it_creates_a_missing_room_flagged_for_staff(client: Client, community_a) -> None:
    assert not Room.objects.exists()
    post(client, payload())
    room = Resident.objects.get().room
    assert room.needs_confirmation and room.building.needs_confirmation
    assert ResidentChange.objects.get().details["room_created"] is True


def test_it_uses_an_existing_room_unflagged(client: Client, community_a) -> None:
    room = RoomFactory(building__community=community_a, building__number="2", unit="1", floor="31", number="06")
    post(client, payload())
    assert Resident.objects.get().room == room
    assert Building.objects.count() == 1 and Room.objects.count() == 1
    assert not Room.objects.get().needs_confirmation


def test_it_answers_in_chinese_whatever_the_client_language(client: Client, community_a) -> None:
    response = post(client, payload(name=""), HTTP_ACCEPT_LANGUAGE="en")
    assert response.json() == {"code": 0, "message": "name: 为必填项"}


# --- bad inputs: the exact envelope, nothing stored -----------------------------------------------

LONG = "A" * 65
BAD = [
    # (id, overrides or raw body, content type, HTTP status, message)
    ("unknown community", payload(communityId="NOPE"), None, 200, "communityId: 不是本系统的小区"),
    ("missing community", payload(communityId=...), None, 200, "communityId: 为必填项"),
    ("community as a number", payload(communityId=42), None, 200, "communityId: 应为字符串"),
    ("missing name", payload(name=...), None, 200, "name: 为必填项"),
    ("name too long", payload(name="张" * 51), None, 200, "name: 超过 50 个字符"),
    ("wrong check digit", payload(idCard=ID_CARD[:17] + ("0" if ID_CARD[17] != "0" else "1")), None, 200,
     "idCard: 校验位错误（GB 11643）"),
    ("ID 17 characters", payload(idCard=ID_CARD[:17]), None, 200, "idCard: 应为 18 位，实际为 17 位"),
    ("ID as a number", payload(idCard=int(ID_CARD[:17] + "0")), None, 200, "idCard: 应为字符串"),
    ("ID impossible birth date", payload(idCard="510104199013011234"), None, 200, "idCard: 出生日期不存在"),
    ("ID letters", payload(idCard="51010419900101A23X"), None, 200, "idCard: 应为 17 位数字加 1 位数字或 X"),
    ("type 06", payload(type="06"), None, 200, "type: 必须为 01 至 05 之一"),
    ("type as a number", payload(type=1), None, 200, "type: 应为字符串"),
    ("source 03", payload(source="03"), None, 200, "source: 必须为 01（手机扫码登记）或 02（AI 层后台录入）"),
    ("source missing", payload(source=...), None, 200, "source: 为必填项"),
    ("xbdm 3", payload(xbdm=3), None, 200, "xbdm: 必须为 0（女）、1（男）或 2（未知）"),
    ("xbdm true", payload(xbdm=True), None, 200, "xbdm: 必须为 0（女）、1（男）或 2（未知）"),
    ("xbdm missing", payload(xbdm=...), None, 200, "xbdm: 为必填项"),
    ("visitTime as a date string", payload(visitTime="2026-01-01"), None, 200,
     "visitTime: 应为毫秒时间戳（数字）或 null"),
    ("visitTime in seconds", payload(visitTime=1_764_000_000), None, 200, "visitTime: 不是合理的毫秒时间戳"),
    ("fractional milliseconds", payload(effectiveVisitTime=T0 + 0.5), None, 200,
     "effectiveVisitTime: 应为整数毫秒时间戳"),
    ("end before start", payload(type="05", visitTime=T0, effectiveVisitTime=T0 - 1), None, 200,
     "effectiveVisitTime: 早于有效期开始时间"),
    ("phone too short", payload(phone="12345"), None, 200,
     "phone: 应为 1 开头的 11 位数字或带区号的固定电话号码"),
    ("phone empty", payload(phone=""), None, 200, "phone: 为空"),
    ("photo file:", payload(photo="file:///etc/passwd"), None, 200, "photo: 必须是 http:// 或 https:// 地址"),
    ("photo ftp:", payload(photo="ftp://photos.example.com/1.jpg"), None, 200,
     "photo: 必须是 http:// 或 https:// 地址"),
    ("photo with credentials", payload(photo="http://u:p@photos.example.com/1.jpg"), None, 200,
     "photo: 不能包含用户名或密码"),
    ("photo missing", payload(photo=...), None, 200, "photo: 为必填项"),
    ("address in another district", payload(address="四川省成都市青羊区观音桥55号2栋1单元31楼06号"), None, 200,
     "address: 不在本小区：区（县）“青羊区”与本小区的“锦江区”不一致"),
    ("address in another street", payload(type="03", address="四川省成都市锦江区观音桥56号"), None, 200,
     "address: 不在本小区：街路巷门牌“观音桥56号”与本小区的“观音桥55号”不一致"),
    ("staff with a room in another district", payload(type="03", address="四川省成都市青羊区观音桥55号2栋1单元31楼06号"),
     None, 200, "address: 不在本小区：区（县）“青羊区”与本小区的“锦江区”不一致"),
    ("owner without a room", payload(address=STANDARD), None, 200,
     f"address: “{STANDARD}”不是七段式地址（标准地址后接…栋…单元…楼…号）"),
    ("address missing", payload(address=...), None, 200, "address: 为必填项"),
    ("ownerId missing", payload(ownerId=...), None, 200, "ownerId: 为必填项"),
    ("ownerId too long", payload(ownerId=LONG), None, 200, "ownerId: 超过 64 个字符"),
    ("ywlsh with a space", payload(ywlsh="YW 1"), None, 200, "ywlsh: 不能包含空格或控制字符"),
    ("only an ID number", {"idCard": ID_CARD}, None, 200,
     "address: 为必填项; name: 为必填项; photo: 为必填项; source: 为必填项; type: 为必填项; phone: 为必填项; "
     "communityId: 为必填项; ownerId: 为必填项; ywlsh: 为必填项; xbdm: 为必填项"),
    ("several problems", payload(name="", idCard="123", xbdm=9), None, 200,
     "name: 为必填项; idCard: 应为 18 位，实际为 3 位; xbdm: 必须为 0（女）、1（男）或 2（未知）"),
    ("malformed JSON", b'{"name": "x",', None, 400, "请求体不是合法的 JSON"),
    ("blank body", b"  ", None, 400, "请求体不是合法的 JSON"),
    ("not UTF-8", b'{"name": "\xff"}', None, 400, "请求体不是合法的 JSON"),
    ("a JSON array", json.dumps([payload()]).encode(), None, 400,
     "请求体必须是一个 JSON 对象（一个人员），而不是数组"),
    ("a JSON string", b'"hello"', None, 400, "请求体必须是一个 JSON 对象（一个人员），而不是单个值"),
    ("text/plain", payload(), "text/plain", 415, "Content-Type 必须为 application/json"),
    ("form-encoded", payload(), "application/x-www-form-urlencoded", 415, "Content-Type 必须为 application/json"),
    ("oversized body", payload(name="张" * 40_000), None, 413, "请求体超过 65536 字节"),
]


@pytest.mark.parametrize(("body", "content_type", "http_status", "message"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_it_refuses_bad_input_with_the_exact_envelope(client: Client, community_a, body, content_type,
                                                      http_status: int, message: str) -> None:
    raw = body if isinstance(body, bytes) else None
    response = post(client, body, raw=raw, content_type=content_type or "application/json")
    assert response.status_code == http_status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": 0, "message": message}
    assert not Resident.objects.exists() and not Room.objects.exists() and not ResidentChange.objects.exists()
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.REFUSED and call.answer_code == 0 and call.message == message


def test_it_has_at_least_25_distinct_bad_inputs() -> None:
    assert len({case[0] for case in BAD}) >= 25


def test_it_answers_other_methods_in_the_envelope(client: Client, db) -> None:
    response = client.get("/apply-access")
    assert response.status_code == 405
    assert response.json() == {"code": 0, "message": "只接受 POST 请求"}


def test_it_answers_an_internal_error_in_the_envelope(client: Client, community_a, monkeypatch) -> None:
    from residents import api

    def explode(*args, **kwargs):
        raise RuntimeError("validation on fire")

    monkeypatch.setattr(api, "check_application", explode)
    response = post(client, payload())
    assert response.status_code == 500
    assert response.json() == {"code": 0, "message": "内部错误，请稍后重试"}
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.ERROR and call.answer_code == 0
    assert not Resident.objects.exists()


def test_it_marks_a_call_the_worker_could_not_apply_and_goes_on(client: Client, community_a, monkeypatch,
                                                                caplog) -> None:
    real = services.receive_application

    def explode_for_the_first(community, application, **kwargs):
        if application.ywlsh == "YW-0001":
            raise RuntimeError("bug")
        return real(community, application, **kwargs)

    monkeypatch.setattr(services, "receive_application", explode_for_the_first)
    assert post(client, payload(), apply=False).json() == {"code": 1, "message": ""}
    assert post(client, payload(ywlsh="YW-0002", ownerId="OWNER-2", idCard=make_id_card(2)),
                apply=False).json() == {"code": 1, "message": ""}
    with caplog.at_level(logging.WARNING):
        assert services.apply_accepted_calls() == 2
    first, second = ApplyAccessCall.objects.order_by("pk")
    assert first.outcome == ApplyAccessCall.Outcome.ERROR and first.problem == "内部错误" and first.applied_at
    assert second.outcome == ApplyAccessCall.Outcome.STORED and second.resident.ywlsh == "YW-0002"
    assert "could not be applied" in caplog.text


def test_it_answers_before_applying_and_the_worker_stores(client: Client, community_a) -> None:
    response = post(client, payload(), apply=False)
    assert response.json() == {"code": 1, "message": ""}
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.ACCEPTED and call.answer_code == 1 and call.applied_at is None
    assert not Resident.objects.exists()
    assert ApplyAccessCall.objects.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED).count() == 1
    assert services.apply_accepted_calls() == 1
    call.refresh_from_db()
    assert call.outcome == ApplyAccessCall.Outcome.STORED and call.resident == Resident.objects.get()
    assert call.applied_at is not None and ApplyAccessCall.objects.filter(outcome=ApplyAccessCall.Outcome.ACCEPTED).count() == 0


def test_it_applies_a_communitys_calls_in_the_order_they_arrived(client: Client, community_a, community_b) -> None:
    other = {"communityId": "CITY-B", "address": "四川省成都市青羊区草市街1号1栋1单元1楼01号"}
    for n, extra in enumerate([{}, other, {}, other, {}], start=1):
        post(client, payload(ywlsh=f"YW-{n}", name=f"张{n}", **extra), apply=False)
    # Small batches: the oldest waiting call decides which community goes next.
    assert services.apply_next_batch(2) == 2
    assert set(Resident.objects.values_list("ywlsh", flat=True)) == {"YW-3"}
    assert services.apply_accepted_calls(batch_size=2) == 3
    a, b = Resident.objects.get(community=community_a), Resident.objects.get(community=community_b)
    assert (a.ywlsh, a.name, b.ywlsh, b.name) == ("YW-5", "张5", "YW-4", "张4")
    assert [c.details["ywlsh"] for c in a.changes.order_by("pk")] == ["YW-1", "YW-3", "YW-5"]


def test_it_refuses_a_call_whose_community_went_away_before_it_was_applied(client: Client, community_a) -> None:
    post(client, payload(), apply=False)
    community_a.delete()
    assert services.apply_accepted_calls() == 0
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.REFUSED and call.problem == "小区已被删除"


def test_it_refuses_at_apply_time_what_no_longer_fits_the_community(client: Client, community_a) -> None:
    post(client, payload(), apply=False)
    community_a.district = "青羊区"
    community_a.save()
    services.apply_accepted_calls()
    call = ApplyAccessCall.objects.get()
    assert call.outcome == ApplyAccessCall.Outcome.REFUSED and call.problem.startswith("address: 不在本小区")
    assert not Resident.objects.exists()


# --- the stored call: kept before it is trusted, PII not in clear ---------------------------------

def test_it_keeps_the_call_with_pii_encrypted_and_masked(client: Client, community_a) -> None:
    post(client, payload(name=""))
    call = ApplyAccessCall.objects.get()
    assert call.ywlsh == "YW-0001" and call.community_city_id == "CITY-A" and call.community == community_a
    assert json.loads(call.body)["idCard"] == ID_CARD  # decrypted for an operator investigating a dispute
    assert ID_CARD not in call.summary and "13812345678" not in call.summary
    assert ID_CARD[:4] in call.summary
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM residents_applyaccesscall WHERE id = %s", [call.pk])
        stored = cursor.fetchone()[0]
    assert ID_CARD not in stored and "13812345678" not in stored


def test_it_logs_every_call_with_ywlsh_community_and_outcome(client: Client, community_a, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="residents.apply_access"):
        post(client, payload())
        post(client, payload(ywlsh="YW-0002", idCard=ID_CARD[:17]))
    lines = [r.getMessage() for r in caplog.records if r.name == "residents.apply_access"]
    assert len(lines) == 3
    assert "ywlsh=YW-0001 community=CITY-A outcome=accepted code=1" in lines[0]
    assert "ywlsh=YW-0001 community=CITY-A applied: outcome=stored" in lines[1]
    assert "ywlsh=YW-0002 community=CITY-A outcome=refused code=0" in lines[2]
    assert not any(ID_CARD in line or "13812345678" in line for line in lines)


# --- idempotency and updates ------------------------------------------------------------------------

def test_it_is_idempotent_by_ywlsh(client: Client, community_a) -> None:
    assert post(client, payload()).json() == {"code": 1, "message": ""}
    resident = Resident.objects.get()
    again = post(client, payload(name="李四", phone="13900000000"))
    assert again.json() == {"code": 1, "message": ""}
    resident.refresh_from_db()
    assert resident.name == "张三" and resident.phone == "13812345678"
    assert Resident.objects.count() == 1 and ResidentChange.objects.count() == 1
    assert list(ApplyAccessCall.objects.order_by("pk").values_list("outcome", flat=True)) == ["stored", "duplicate"]


def test_it_updates_the_person_on_a_new_ywlsh_and_keeps_history(client: Client, community_a) -> None:
    # A person not (yet) active: a new application replaces what was waiting, still pending.
    post(client, payload(type="05", visitTime=T0, effectiveVisitTime=T0 + 1000))
    resident = Resident.objects.get()
    response = post(client, payload(ywlsh="YW-0002", type="05", visitTime=T0 + 86_400_000,
                                    effectiveVisitTime=T0 + 2 * 86_400_000, photo="http://photos.example.com/p/2.jpg"))
    assert response.json() == {"code": 1, "message": ""}
    assert Resident.objects.count() == 1
    resident.refresh_from_db()
    assert resident.ywlsh == "YW-0002" and resident.photo_url.endswith("/2.jpg")
    assert resident.valid_from.timestamp() * 1000 == T0 + 86_400_000
    assert resident.status == Resident.Status.PENDING
    changes = list(resident.changes.order_by("at", "pk"))
    assert [(c.from_status, c.to_status) for c in changes] == [("", "pending"), ("pending", "pending")]
    assert changes[-1].details["ywlsh"] == "YW-0002"
    assert set(changes[-1].details["changed"]) == {"photo_url", "valid_from", "valid_until"}
    # The first ywlsh sent again still changes nothing.
    assert post(client, payload(type="05")).json() == {"code": 1, "message": ""}
    resident.refresh_from_db()
    assert resident.ywlsh == "YW-0002"


# --- a re-application of an active person (issue 12, item 7) -------------------------------------

NEW_DATA = {"ywlsh": "YW-0002", "name": "张三丰", "phone": "13900000000", "photo": "http://photos.example.com/p/2.jpg"}


def active_resident(client: Client, gary) -> Resident:
    post(client, payload())
    resident = Resident.objects.get()
    services.approve_resident(resident, acting_user=gary)
    resident.refresh_from_db()
    return resident


def test_it_keeps_an_active_person_active_with_the_approved_data_on_a_new_application(
        client: Client, community_a, gary) -> None:
    resident = active_resident(client, gary)
    assert post(client, payload(**NEW_DATA)).json() == {"code": 1, "message": ""}
    resident.refresh_from_db()
    assert resident.status == Resident.Status.ACTIVE and resident.reviewed_by == gary
    assert (resident.name, resident.phone, resident.ywlsh) == ("张三", "13812345678", "YW-0001")
    assert resident.photo_url.endswith("/1.jpg")
    proposal = ResidentProposal.objects.get()
    assert proposal.status == ResidentProposal.Status.PENDING and proposal.ywlsh == "YW-0002"
    assert proposal.fields["name"] == "张三丰" and proposal.call == ApplyAccessCall.objects.order_by("pk").last()
    change = resident.changes.order_by("at", "pk").last()
    assert (change.from_status, change.to_status) == ("active", "active")
    assert set(change.details["changed"]) == {"name", "phone", "photo"}
    assert ApplyAccessCall.objects.order_by("pk").last().outcome == ApplyAccessCall.Outcome.STORED


def test_it_encrypts_the_proposed_data(client: Client, community_a, gary) -> None:
    active_resident(client, gary)
    post(client, payload(**NEW_DATA))
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM residents_residentproposal")
        (stored,) = cursor.fetchone()
    assert ID_CARD not in stored and "13900000000" not in stored and "张三丰" not in stored


def test_it_replaces_a_still_pending_proposal_and_ignores_a_repeated_ywlsh(
        client: Client, community_a, gary) -> None:
    resident = active_resident(client, gary)
    post(client, payload(**NEW_DATA))
    post(client, payload(**{**NEW_DATA, "ywlsh": "YW-0003", "name": "张三三"}))
    post(client, payload(**NEW_DATA))  # YW-0002 again: a duplicate, nothing changes
    statuses = dict(ResidentProposal.objects.values_list("ywlsh", "status"))
    assert statuses == {"YW-0002": "superseded", "YW-0003": "pending"}
    assert ApplyAccessCall.objects.order_by("pk").last().outcome == ApplyAccessCall.Outcome.DUPLICATE
    assert services.pending_proposal(resident).fields["name"] == "张三三"


def test_it_applies_the_new_data_and_tells_the_city_when_the_change_is_approved(
        client: Client, community_a, gary) -> None:
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    resident = active_resident(client, gary)
    OutboxRecord.objects.all().delete()
    post(client, payload(**NEW_DATA))
    assert not OutboxRecord.objects.exists()  # nothing decided yet
    services.do_approve_proposal(services.pending_proposal(resident), acting_user=gary)
    resident.refresh_from_db()
    assert resident.status == Resident.Status.ACTIVE
    assert (resident.name, resident.phone, resident.ywlsh) == ("张三丰", "13900000000", "YW-0002")
    assert resident.photo_url.endswith("/2.jpg")
    assert ResidentProposal.objects.get().status == ResidentProposal.Status.APPROVED
    change = resident.changes.order_by("at", "pk").last()
    assert change.actor == gary and change.reason == services.PROPOSAL_APPROVED_REASON
    assert {k: v for k, v in OutboxRecord.objects.get().fields.items() if k != "time"} == {
        "ywlsh": "YW-0002", "ownerId": "OWNER-1", "communityId": "CITY-A", "result": "approved", "reason": ""}
    with pytest.raises(services.ReviewError):  # decided once
        services.do_approve_proposal(ResidentProposal.objects.get(), acting_user=gary)


def test_it_keeps_the_old_data_and_tells_the_city_when_the_change_is_rejected(
        client: Client, community_a, gary) -> None:
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    resident = active_resident(client, gary)
    OutboxRecord.objects.all().delete()
    post(client, payload(**NEW_DATA))
    with pytest.raises(ValueError):
        services.do_reject_proposal(services.pending_proposal(resident), acting_user=gary, reason=" ")
    services.do_reject_proposal(services.pending_proposal(resident), acting_user=gary, reason="不是本人")
    resident.refresh_from_db()
    assert resident.status == Resident.Status.ACTIVE
    assert (resident.name, resident.phone, resident.ywlsh) == ("张三", "13812345678", "YW-0001")
    proposal = ResidentProposal.objects.get()
    assert proposal.status == ResidentProposal.Status.REJECTED and proposal.reject_reason == "不是本人"
    change = resident.changes.order_by("at", "pk").last()
    assert change.actor == gary and change.details["reject_reason"] == "不是本人"
    assert {k: v for k, v in OutboxRecord.objects.get().fields.items() if k != "time"} == {
        "ywlsh": "YW-0002", "ownerId": "OWNER-1", "communityId": "CITY-A", "result": "rejected",
        "reason": "不是本人"}


def test_it_refuses_to_approve_a_change_whose_id_card_another_person_took_meanwhile(
        client: Client, community_a, gary) -> None:
    resident = active_resident(client, gary)
    post(client, payload(**{**NEW_DATA, "idCard": make_id_card(5)}))
    ResidentFactory(community=community_a, id_card=make_id_card(5), city_owner_id="OTHER", room=None)
    with pytest.raises(services.ApplicationConflict) as caught:
        services.do_approve_proposal(services.pending_proposal(resident), acting_user=gary)
    assert caught.value.field == "id_card"
    resident.refresh_from_db()
    assert resident.name == "张三" and services.pending_proposal(resident) is not None


def test_it_replaces_a_proposal_when_the_person_is_no_longer_active(client: Client, community_a, gary) -> None:
    resident = active_resident(client, gary)
    post(client, payload(**NEW_DATA))
    services.change_status(resident, Resident.Status.EXPIRED, actor_label=services.SYSTEM_EXPIRY_ACTOR)
    assert services.pending_proposal(resident) is None  # nothing for a guard to approve any more
    post(client, payload(**{**NEW_DATA, "ywlsh": "YW-0003"}))
    resident.refresh_from_db()
    assert resident.status == Resident.Status.PENDING and resident.ywlsh == "YW-0003"
    assert ResidentProposal.objects.get().status == ResidentProposal.Status.SUPERSEDED


def test_it_updates_an_active_person_at_once_when_the_community_needs_no_review(
        client: Client, community_a, gary) -> None:
    community_a.requires_guard_review = False
    community_a.save()
    post(client, payload())
    post(client, payload(**NEW_DATA))
    resident = Resident.objects.get()
    assert resident.status == Resident.Status.ACTIVE and resident.name == "张三丰"
    assert not ResidentProposal.objects.exists()


def test_it_gives_a_known_id_card_the_new_owner_id(client: Client, community_a, gary) -> None:
    # The same person (same ID number) known under another ownerId, or imported from Excel without
    # one: the city is authoritative about its ids, so the row is kept and takes the new ownerId.
    existing = ResidentFactory(community=community_a, id_card=ID_CARD, city_owner_id="OLD-OWNER")
    assert post(client, payload(ownerId="NEW-OWNER")).json() == {"code": 1, "message": ""}
    existing.refresh_from_db()
    assert Resident.objects.count() == 1
    # The person is active: the new ownerId waits for a guard like any other change.
    assert existing.city_owner_id == "OLD-OWNER" and existing.status == Resident.Status.ACTIVE
    assert existing.changes.get().details["previous_owner_id"] == "OLD-OWNER"
    services.do_approve_proposal(services.pending_proposal(existing), acting_user=gary)
    existing.refresh_from_db()
    assert existing.city_owner_id == "NEW-OWNER" and existing.user_id == "NEW-OWNER"
    # Not active: taken at once.
    other = ResidentFactory(community=community_a, id_card=make_id_card(7), city_owner_id="OLD-7", room=None,
                            status=Resident.Status.PENDING)
    post(client, payload(ownerId="NEW-7", idCard=make_id_card(7), ywlsh="YW-7"))
    other.refresh_from_db()
    assert other.city_owner_id == "NEW-7"
    assert other.changes.get().details["previous_owner_id"] == "OLD-7"


def test_it_refuses_an_owner_id_claiming_another_persons_id_card(client: Client, community_a) -> None:
    post(client, payload())
    other = ResidentFactory(community=community_a, id_card=make_id_card(2), city_owner_id="OWNER-2")
    response = post(client, payload(ywlsh="YW-0002", idCard=other.id_card))
    # Answered before it is applied (the body was valid); the conflict is the call's outcome, for staff.
    assert response.json() == {"code": 1, "message": ""}
    call = ApplyAccessCall.objects.get(ywlsh="YW-0002")
    assert call.outcome == ApplyAccessCall.Outcome.REFUSED and call.problem == "idCard: 已登记为本小区的另一人员"
    assert Resident.objects.get(city_owner_id="OWNER-1").id_card == ID_CARD


def test_it_keeps_the_same_person_apart_in_two_communities(client: Client, community_a, community_b) -> None:
    post(client, payload())
    response = post(client, payload(ywlsh="YW-B", communityId="CITY-B",
                                    address="四川省成都市青羊区草市街1号1栋1单元1楼01号"))
    assert response.json() == {"code": 1, "message": ""}
    assert set(Resident.objects.values_list("community__city_id", flat=True)) == {"CITY-A", "CITY-B"}


# --- review not required, callback queued -----------------------------------------------------------

def test_it_activates_at_once_and_queues_the_callback_when_no_review(client: Client, community_a) -> None:
    community_a.requires_guard_review = False
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    post(client, payload())
    resident = Resident.objects.get()
    assert resident.status == Resident.Status.ACTIVE
    record = OutboxRecord.objects.get()
    assert record.endpoint == "registration-callback" and record.community == community_a
    assert {k: v for k, v in record.fields.items() if k != "time"} == {
        "ywlsh": "YW-0001", "ownerId": "OWNER-1", "communityId": "CITY-A", "result": "approved", "reason": ""}


def test_it_queues_no_callback_without_a_callback_url(client: Client, community_a) -> None:
    community_a.requires_guard_review = False
    community_a.save()
    post(client, payload())
    assert Resident.objects.get().status == Resident.Status.ACTIVE
    assert not OutboxRecord.objects.exists()


# --- optional hardening -------------------------------------------------------------------------------

@override_settings(APPLY_ACCESS_ALLOWED_NETWORKS=["10.0.0.0/8"])
def test_it_refuses_sources_outside_the_allowed_networks(client: Client, community_a) -> None:
    response = post(client, payload())
    assert response.status_code == 403
    assert response.json() == {"code": 0, "message": "不接受来自该地址的调用"}
    assert not Resident.objects.exists()
    assert post(client, payload(), REMOTE_ADDR="10.1.2.3").json() == {"code": 1, "message": ""}


@override_settings(APPLY_ACCESS_ALLOWED_NETWORKS=["10.0.0.0/8"])
def test_it_matches_an_ipv4_mapped_ipv6_source_against_ipv4_networks(client: Client, community_a) -> None:
    # gunicorn on a dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    assert post(client, payload(), REMOTE_ADDR="::ffff:10.0.0.5").json() == {"code": 1, "message": ""}
    assert ApplyAccessCall.objects.get().remote_addr == "10.0.0.5"
    assert post(client, payload(ywlsh="YW-0002"), REMOTE_ADDR="::ffff:192.0.2.5").status_code == 403


@override_settings(APPLY_ACCESS_TRUSTED_PROXIES=["127.0.0.1/32"])
def test_it_recognises_a_trusted_proxy_at_an_ipv4_mapped_address(client: Client, community_a) -> None:
    post(client, payload(), REMOTE_ADDR="::ffff:127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert ApplyAccessCall.objects.get().remote_addr == "203.0.113.5"


@override_settings(APPLY_ACCESS_RATE="2/min")
def test_it_rate_limits_per_source_address(client: Client, community_a) -> None:
    from django.core.cache import cache

    cache.clear()
    assert post(client, payload(), REMOTE_ADDR="10.9.9.9").json()["code"] == 1
    assert post(client, payload(ywlsh="YW-0002"), REMOTE_ADDR="10.9.9.9").json()["code"] == 1
    third = post(client, payload(ywlsh="YW-0003"), REMOTE_ADDR="10.9.9.9")
    assert third.status_code == 429
    assert third.json()["code"] == 0 and third.json()["message"].startswith("调用过于频繁")
    assert post(client, payload(ywlsh="YW-0004"), REMOTE_ADDR="10.9.9.8").json()["code"] == 1
    cache.clear()


@override_settings(APPLY_ACCESS_ALLOWED_NETWORKS=["203.0.113.0/24"], APPLY_ACCESS_TRUSTED_PROXIES=["127.0.0.1/32"])
def test_it_takes_the_callers_address_from_a_trusted_proxy(client: Client, community_a) -> None:
    # The city at 203.0.113.5, through our nginx at 127.0.0.1; a forged left-most entry is ignored.
    through_proxy = post(client, payload(), HTTP_X_FORWARDED_FOR="10.6.6.6, 203.0.113.5")
    assert through_proxy.json() == {"code": 1, "message": ""}
    assert ApplyAccessCall.objects.get().remote_addr == "203.0.113.5"
    forged = post(client, payload(ywlsh="YW-0002"), HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.7")
    assert forged.status_code == 403
    # Not through a trusted proxy: the header is not read at all.
    direct = post(client, payload(ywlsh="YW-0003"), REMOTE_ADDR="198.51.100.8", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert direct.status_code == 403


# --- asking a worker to apply the accepted calls ------------------------------------------------------

@pytest.fixture
def sent_tasks(monkeypatch) -> list[str]:
    from afxq_portal.celery_app import app

    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, *args, **kwargs: sent.append(name))
    return sent


@override_settings(APPLY_ACCESS_NUDGE_DEBOUNCE=False)  # the key in Redis is the next test's
def test_it_asks_for_the_task_at_most_once_per_interval_per_process(sent_tasks: list[str], monkeypatch) -> None:
    monkeypatch.setattr(services.apply_nudges, "last", -1e9)
    services.nudge_apply_calls()
    services.nudge_apply_calls()
    assert sent_tasks == ["residents.apply_calls"]
    monkeypatch.setattr(services.apply_nudges, "last", services.time.monotonic() - 1)
    services.nudge_apply_calls()
    assert sent_tasks == ["residents.apply_calls"] * 2


@override_settings(APPLY_ACCESS_NUDGE_DEBOUNCE=True)
def test_it_queues_one_task_at_a_time_until_it_starts(db, sent_tasks: list[str]) -> None:
    from django.core.cache import cache

    cache.delete(services.APPLY_NUDGE_KEY)
    services.queue_apply_task()
    services.queue_apply_task()
    assert sent_tasks == ["residents.apply_calls"]
    services.apply_accepted_calls()  # the task starts: the next ask queues the next task
    services.queue_apply_task()
    assert sent_tasks == ["residents.apply_calls"] * 2
    cache.delete(services.APPLY_NUDGE_KEY)


def test_it_lingers_and_applies_a_call_accepted_meanwhile(client: Client, community_a, monkeypatch) -> None:
    real_sleep, naps = services.time.sleep, []

    def nap(seconds: float) -> None:
        if not naps:  # a call accepted after the task's first empty look
            assert post(client, payload(), apply=False).json()["code"] == 1
        naps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(services.time, "sleep", nap)
    started = services.time.monotonic()
    assert services.apply_accepted_calls(linger_seconds=0.3) == 1
    assert services.time.monotonic() - started >= 0.3
    assert Resident.objects.get().ywlsh == "YW-0001"


def test_it_warns_staff_of_accepted_calls_no_worker_applied(client: Client, community_a, alice, charlie) -> None:
    import datetime as dt

    from django.utils import timezone

    post(client, payload(), apply=False)
    post(client, payload(ywlsh="YW-0002"), apply=False)
    assert services.stalled_accepted_calls() is None  # just accepted: not stalled
    ApplyAccessCall.objects.update(received_at=timezone.now() - dt.timedelta(minutes=7))
    count, oldest = services.stalled_accepted_calls()
    assert count == 2 and 420 <= oldest < 430
    staff_of_a, staff_of_b = Client(), Client()
    staff_of_a.force_login(alice)
    staff_of_b.force_login(charlie)
    page = staff_of_a.get("/admin/residents/applyaccesscall/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "2 条已接受的调用已等待入库 7 分钟以上" in page
    other = staff_of_b.get("/admin/residents/applyaccesscall/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已等待入库" not in other  # not their community's calls
    services.apply_accepted_calls()
    assert services.stalled_accepted_calls() is None


def test_it_logs_an_error_when_the_task_finds_stalled_calls(client: Client, community_a, caplog) -> None:
    import datetime as dt

    from django.utils import timezone

    from residents.tasks import apply_calls

    post(client, payload(), apply=False)
    ApplyAccessCall.objects.update(received_at=timezone.now() - dt.timedelta(minutes=10))
    with caplog.at_level(logging.ERROR, logger="residents.tasks"):
        assert apply_calls() == 1
    assert "1 accepted call(s) waited 600 s or more" in caplog.text
    assert Resident.objects.get().ywlsh == "YW-0001"


# --- a batch sees its own earlier calls (residents.known) ----------------------------------------

BATCH_SEQUENCE = [
    payload(),  # a new person in a new room
    payload(ywlsh="YW-0002", name="张三丰"),  # the same ownerId again: an update of that person
    payload(),  # YW-0001 again: a duplicate
    payload(ywlsh="YW-0003", ownerId="OWNER-3", idCard=make_id_card(3)),  # another person, the same room
    payload(ywlsh="YW-0004", ownerId="OWNER-4"),  # the first person's ID number under a new ownerId: it moves
    payload(ywlsh="YW-0005", ownerId="OWNER-1", idCard=make_id_card(5)),  # OWNER-1 is free again: a new person
    payload(ywlsh="YW-0006", ownerId="OWNER-3", idCard=make_id_card(6)),  # OWNER-3 with a new ID number: an update
    payload(ywlsh="YW-0007", ownerId="OWNER-7", idCard=make_id_card(6)),  # OWNER-3's ID number, taken: it moves
]


def applied_state() -> tuple[list, list]:
    people = sorted(Resident.objects.values_list("city_owner_id", "name", "ywlsh", "id_card_hash", "room_id"),
                    key=str)
    calls = list(ApplyAccessCall.objects.order_by("pk").values_list("ywlsh", "outcome", "resident__city_owner_id",
                                                                   "problem"))
    return people, calls


@pytest.mark.parametrize("batch", [1, 100])
def test_it_applies_a_batch_as_it_applies_one_call_at_a_time(client: Client, community_a, settings, batch) -> None:
    settings.APPLY_ACCESS_APPLY_BATCH = batch
    for data in BATCH_SEQUENCE:
        assert post(client, data, apply=False).json() == {"code": 1, "message": ""}
    with CaptureQueriesContext(connection) as queries:
        assert services.apply_accepted_calls() == len(BATCH_SEQUENCE)
    people, calls = applied_state()
    assert [c[1] for c in calls] == ["stored", "stored", "duplicate", "stored", "stored", "stored", "stored", "stored"]
    assert [c[2] for c in calls] == ["OWNER-4", "OWNER-4", "OWNER-4", "OWNER-7", "OWNER-4", "OWNER-1", "OWNER-7",
                                     "OWNER-7"]
    assert len(people) == 3 and Room.objects.count() == 1
    if batch == 100:
        # The lookups are read once for the batch (five queries), not six per call. What a stored call still costs:
        # its savepoint and release, the person's INSERT or UPDATE, the history row, the face terminals' lookup
        # (terminals.signals), a superseded proposal's UPDATE for an update; with the batch's own claim and
        # outcomes, under 9 a call (six more each without the batch's lookups).
        per_call = len(queries) / len(BATCH_SEQUENCE)
        assert per_call < 9, [q["sql"][:80] for q in queries.captured_queries]


def test_it_looks_each_call_up_again_after_a_call_failed_in_the_batch(client: Client, community_a,
                                                                       monkeypatch) -> None:
    real = services.receive_application

    def explode_after_writing(community, application, **kwargs):
        received = real(community, application, **kwargs)
        if application.ywlsh == "YW-0002":
            raise RuntimeError("bug after the person was saved")  # the savepoint undoes the update
        return received

    monkeypatch.setattr(services, "receive_application", explode_after_writing)
    for data in BATCH_SEQUENCE[:3]:
        post(client, data, apply=False)
    assert services.apply_accepted_calls() == 3
    people, calls = applied_state()
    assert [c[1] for c in calls] == ["stored", "error", "duplicate"]
    assert [p[1] for p in people] == ["张三"]  # the failed update left nothing behind
