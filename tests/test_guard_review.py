"""The guards' review: login by phone, the queue of their own community, approve / reject with a
reason, history, the admission-result callback in the outbox, the staff's admin actions, expiry,
and tenancy (a guard of A never sees or acts on a person of B, by page, URL or API)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from residents import services, tasks
from residents.models import ApplyAccessCall, PersonType, Resident, ResidentChange
from tests.factories import ResidentFactory, UserFactory
from uploads.models import OutboxRecord

PASSWORD = "password-for-tests-1"


@pytest.fixture
def pending_a(community_a):
    return ResidentFactory(community=community_a, name="王五", status=Resident.Status.PENDING, ywlsh="YW-A1",
                           city_owner_id="OWNER-A1", id_card="510104199001011236", phone="13811112222")


@pytest.fixture
def pending_b(community_b):
    return ResidentFactory(community=community_b, name="赵六", status=Resident.Status.PENDING, ywlsh="YW-B1")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- login ----------------------------------------------------------------------------------------

def test_it_logs_a_guard_in_with_phone_and_password(gary) -> None:
    client = Client()
    page = client.get("/guard/login/")
    assert page.status_code == 200 and "门卫登录" in page.content.decode() and "手机号" in page.content.decode()
    response = client.post("/guard/login/", {"username": "13900000001", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/guard/"
    assert client.get("/guard/").status_code == 200


def test_it_refuses_a_wrong_password(gary) -> None:
    response = Client().post("/guard/login/", {"username": "13900000001", "password": "wrong"})
    assert response.status_code == 200 and "_auth_user_id" not in response.client.session


@override_settings(GUARD_LOGIN_MAX_FAILURES=3)
def test_it_locks_the_login_after_repeated_failures(gary) -> None:
    cache.clear()
    client = Client()
    for _ in range(3):
        client.post("/guard/login/", {"username": "13900000001", "password": "wrong"})
    response = client.post("/guard/login/", {"username": "13900000001", "password": PASSWORD})
    assert "尝试失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's failures.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/guard/login/", {"username": "13900000001", "password": PASSWORD}).status_code == 302
    cache.clear()


def test_it_keeps_guards_out_of_the_admin(gary) -> None:
    response = logged_in(gary).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_sends_anonymous_visitors_to_the_guard_login(db) -> None:
    response = Client().get("/guard/")
    assert response.status_code == 302 and response["Location"].startswith("/guard/login/")


def test_it_refuses_users_with_no_community(db) -> None:
    nobody = UserFactory(username="nobody", is_staff=False)
    assert logged_in(nobody).get("/guard/").status_code == 403


# --- the queue ------------------------------------------------------------------------------------

def test_it_lists_the_pending_people_of_the_guards_community_newest_first(
        gary, community_a, pending_a, pending_b) -> None:
    newer = ResidentFactory(community=community_a, name="孙七", status=Resident.Status.PENDING,
                            person_type=PersonType.VISITOR,
                            valid_until=timezone.now() + dt.timedelta(days=1))
    ResidentFactory(community=community_a, name="已通过", status=Resident.Status.ACTIVE)
    html = logged_in(gary).get("/guard/").content.decode()
    assert "<strong>2</strong> 人待审核" in html
    assert html.index("孙七") < html.index("王五")  # newest first
    assert "赵六" not in html and "已通过" not in html
    # Masked, never in clear.
    assert "510104199001011236" not in html and "13811112222" not in html
    assert "5101**********1236" in html and "138****2222" in html
    assert "05 visitor" not in html and "来访人员" in html  # Chinese labels
    assert f'data-testid="approve-{newer.pk}"' in html


def test_it_shows_an_empty_queue(gary) -> None:
    assert "暂无待审核人员" in logged_in(gary).get("/guard/").content.decode()


# --- approve and reject ------------------------------------------------------------------------------

def test_it_approves_in_one_tap_and_records_who(gary, pending_a) -> None:
    response = logged_in(gary).post(f"/guard/{pending_a.pk}/approve/", follow=True)
    assert "已通过 王五" in response.content.decode()
    pending_a.refresh_from_db()
    assert pending_a.status == Resident.Status.ACTIVE and pending_a.reviewed_by == gary
    change = pending_a.changes.get()
    assert (change.actor, change.from_status, change.to_status) == (gary, "pending", "active")
    assert not OutboxRecord.objects.exists()  # the community has no callback URL


def test_it_requires_a_reason_to_reject(gary, pending_a) -> None:
    response = logged_in(gary).post(f"/guard/{pending_a.pk}/reject/", {"reason": "  "}, follow=True)
    assert "驳回 王五 须填写原因" in response.content.decode()
    pending_a.refresh_from_db()
    assert pending_a.status == Resident.Status.PENDING and not pending_a.changes.exists()


def test_it_rejects_with_a_reason_and_queues_the_callback(gary, community_a, pending_a) -> None:
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    response = logged_in(gary).post(f"/guard/{pending_a.pk}/reject/", {"reason": "照片不是本人"}, follow=True)
    assert "已驳回 王五" in response.content.decode()
    pending_a.refresh_from_db()
    assert pending_a.status == Resident.Status.REJECTED and pending_a.reject_reason == "照片不是本人"
    assert pending_a.changes.get().reason == "照片不是本人"
    record = OutboxRecord.objects.get()
    assert record.endpoint == "registration-callback"
    fields = record.fields
    assert {k: fields[k] for k in ("ywlsh", "ownerId", "communityId", "result", "reason")} == {
        "ywlsh": "YW-A1", "ownerId": "OWNER-A1", "communityId": "CITY-A", "result": "rejected",
        "reason": "照片不是本人"}
    assert dt.datetime.strptime(fields["time"], "%Y-%m-%d %H:%M:%S")


def test_it_decides_once_when_tapped_twice(gary, bob, community_a, pending_a) -> None:
    community_a.registration_callback_url = "https://callback.example.com/registration"
    community_a.save()
    logged_in(gary).post(f"/guard/{pending_a.pk}/approve/")
    response = logged_in(bob).post(f"/guard/{pending_a.pk}/reject/", {"reason": "晚了"}, follow=True)
    assert "王五 已被审核过" in response.content.decode()
    pending_a.refresh_from_db()
    assert pending_a.status == Resident.Status.ACTIVE
    assert OutboxRecord.objects.get().fields["result"] == "approved"


def test_it_shows_the_history_on_the_person(gary, pending_a) -> None:
    client = logged_in(gary)
    client.post(f"/guard/{pending_a.pk}/reject/", {"reason": "信息不符"})
    html = client.get(f"/guard/{pending_a.pk}/").content.decode()
    assert "变更记录" in html and "待审核 → 已驳回" in html and "信息不符" in html and "门卫老王" in html
    assert "信息不符" in client.get("/guard/").content.decode()  # recently reviewed


def test_it_only_accepts_post_for_decisions(gary, pending_a) -> None:
    assert logged_in(gary).get(f"/guard/{pending_a.pk}/approve/").status_code == 405


# --- tenancy ---------------------------------------------------------------------------------------

def test_it_keeps_a_guard_of_a_away_from_people_of_b(gary, pending_b) -> None:
    client = logged_in(gary)
    assert "赵六" not in client.get("/guard/").content.decode()  # page
    assert client.get(f"/guard/{pending_b.pk}/").status_code == 404  # URL
    assert client.get(f"/residents/{pending_b.pk}/photo/").status_code == 404
    assert client.post(f"/guard/{pending_b.pk}/approve/").status_code == 404  # API
    assert client.post(f"/guard/{pending_b.pk}/reject/", {"reason": "x"}).status_code == 404
    pending_b.refresh_from_db()
    assert pending_b.status == Resident.Status.PENDING and not pending_b.changes.exists()


def test_it_keeps_staff_of_b_away_from_people_of_a(charlie, pending_a) -> None:
    client = logged_in(charlie)
    assert "王五" not in client.get("/guard/").content.decode()
    assert client.post(f"/guard/{pending_a.pk}/approve/").status_code == 404
    assert client.get(f"/admin/residents/resident/{pending_a.pk}/change/").status_code in (302, 404)
    assert "王五" not in client.get("/admin/residents/resident/").content.decode()
    pending_a.refresh_from_db()
    assert pending_a.status == Resident.Status.PENDING


def test_it_keeps_apply_access_calls_of_a_away_from_staff_of_b(charlie, alice, community_a) -> None:
    call = ApplyAccessCall.objects.create(community=community_a, ywlsh="YW-SECRET", outcome="stored")
    assert "YW-SECRET" not in logged_in(charlie).get("/admin/residents/applyaccesscall/").content.decode()
    assert logged_in(charlie).get(f"/admin/residents/applyaccesscall/{call.pk}/change/").status_code in (302, 404)
    assert "YW-SECRET" in logged_in(alice).get("/admin/residents/applyaccesscall/").content.decode()
    # Staff read the calls of their communities; they cannot delete the record of what the city sent.
    assert logged_in(alice).post(f"/admin/residents/applyaccesscall/{call.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApplyAccessCall.objects.filter(pk=call.pk).exists()


# --- the staff's admin queue ---------------------------------------------------------------------------

def test_it_lets_staff_approve_and_reject_in_bulk(alice, community_a, pending_a, pending_b) -> None:
    second = ResidentFactory(community=community_a, status=Resident.Status.PENDING)
    third = ResidentFactory(community=community_a, status=Resident.Status.PENDING)
    client = logged_in(alice)
    url = "/admin/residents/resident/"
    queue = client.get(url, {"status__exact": "pending"}).content.decode()
    assert "待审核 (3)" in queue and "赵六" not in queue  # how many are waiting, in her communities only
    assert client.get(url, {"room__needs_confirmation__exact": "1"}).status_code == 200
    client.post(url, {"action": "approve_selected", "_selected_action": [pending_a.pk, second.pk]})
    response = client.post(url, {"action": "reject_selected", "_selected_action": [third.pk], "reason": ""},
                           follow=True)
    assert "请填写驳回原因" in response.content.decode()
    client.post(url, {"action": "reject_selected", "_selected_action": [third.pk], "reason": "重复登记"})
    statuses = dict(Resident.objects.values_list("pk", "status"))
    assert statuses == {pending_a.pk: "active", second.pk: "active", third.pk: "rejected", pending_b.pk: "pending"}
    assert ResidentChange.objects.filter(actor=alice).count() == 3
    assert Resident.objects.get(pk=third.pk).reject_reason == "重复登记"


# --- no local review, expiry -------------------------------------------------------------------------

def test_it_expires_people_whose_validity_ended(community_a) -> None:
    now = timezone.now()
    visitor = ResidentFactory(community=community_a, person_type=PersonType.VISITOR,
                              valid_until=now - dt.timedelta(minutes=1))
    waiting = ResidentFactory(community=community_a, person_type=PersonType.VISITOR,
                              status=Resident.Status.PENDING, valid_until=now - dt.timedelta(hours=1))
    tenant = ResidentFactory(community=community_a, person_type=PersonType.TENANT,
                             valid_until=now - dt.timedelta(days=1))
    future = ResidentFactory(community=community_a, person_type=PersonType.VISITOR,
                             valid_until=now + dt.timedelta(hours=1))
    owner = ResidentFactory(community=community_a)
    rejected = ResidentFactory(community=community_a, status=Resident.Status.REJECTED,
                               valid_until=now - dt.timedelta(days=1))
    assert tasks.expire_residents()["expired"] == 3
    statuses = dict(Resident.objects.values_list("pk", "status"))
    assert statuses == {visitor.pk: "expired", waiting.pk: "expired", tenant.pk: "expired",
                        future.pk: "active", owner.pk: "active", rejected.pk: "rejected"}
    change = visitor.changes.get()
    assert change.to_status == "expired" and change.actor_label == services.SYSTEM_EXPIRY_ACTOR
    assert tasks.expire_residents()["expired"] == 0  # nothing twice


def test_it_shows_expiry_on_the_person(gary, community_a) -> None:
    visitor = ResidentFactory(community=community_a, person_type=PersonType.VISITOR,
                              valid_until=timezone.now() - dt.timedelta(minutes=1))
    services.expire_residents()
    html = logged_in(gary).get(f"/guard/{visitor.pk}/").content.decode()
    assert "status-expired" in html and "已过期" in html and "有效 → 已过期" in html and "系统（有效期已过）" in html


def test_it_deletes_stored_calls_after_the_retention(community_a) -> None:
    old = ApplyAccessCall.objects.create(community=community_a, ywlsh="OLD")
    ApplyAccessCall.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - dt.timedelta(days=settings.APPLY_ACCESS_CALL_RETENTION_DAYS + 1))
    ApplyAccessCall.objects.create(community=community_a, ywlsh="NEW")
    assert tasks.expire_residents()["purged"] == 1
    assert list(ApplyAccessCall.objects.values_list("ywlsh", flat=True)) == ["NEW"]


def test_it_deletes_photos_of_people_rejected_or_expired_long_ago(
        community_a, django_capture_on_commit_callbacks) -> None:
    from django.core.files.base import ContentFile

    def with_photo(status: str, days_ago: int) -> Resident:
        resident = ResidentFactory(community=community_a, status=status)
        resident.photo.save("face.jpg", ContentFile(b"jpeg bytes"), save=False)
        resident.photo_status = Resident.PhotoStatus.OK
        resident.save()
        Resident.objects.filter(pk=resident.pk).update(updated_at=timezone.now() - dt.timedelta(days=days_ago))
        return resident

    days = settings.RESIDENT_PHOTO_RETENTION_DAYS
    old_rejected = with_photo(Resident.Status.REJECTED, days + 1)
    old_expired = with_photo(Resident.Status.EXPIRED, days + 1)
    recent_rejected = with_photo(Resident.Status.REJECTED, days - 1)
    old_active = with_photo(Resident.Status.ACTIVE, days + 1)
    paths = {r.pk: r.photo.path for r in (old_rejected, old_expired, recent_rejected, old_active)}
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_residents()["photos_deleted"] == 2
    for resident, kept in ((old_rejected, False), (old_expired, False), (recent_rejected, True), (old_active, True)):
        resident.refresh_from_db()
        assert bool(resident.photo) is kept and os.path.exists(paths[resident.pk]) is kept
    assert old_rejected.photo_status == Resident.PhotoStatus.NONE
    assert old_rejected.changes.get().actor_label == services.SYSTEM_RETENTION_ACTOR


def test_it_runs_the_expiry_on_the_beat() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["residents-expire"]
    assert entry["task"] == tasks.expire_residents.name == "residents.expire_residents"


# --- a re-application of an active person: a change to review (issue 12, item 7) ------------------

@pytest.fixture
def changed_a(community_a, gary):
    """An active person of A with a pending re-application (new name and phone, same ID number)."""
    resident = ResidentFactory(community=community_a, name="王五", status=Resident.Status.ACTIVE, ywlsh="YW-A1",
                               city_owner_id="OWNER-A1", id_card="510104199001011236", phone="13811112222",
                               room=None, address="四川省成都市锦江区观音桥55号")
    fields = {"name": "王小五", "id_card": resident.id_card, "phone": "13999998888", "sex": resident.sex,
              "person_type": resident.person_type, "room_id": None, "address": resident.address,
              "valid_from": None, "valid_until": None, "city_owner_id": "OWNER-A1", "ywlsh": "YW-A2",
              "source": resident.source, "photo_url": resident.photo_url}
    with transaction.atomic():
        services._propose_update(resident, fields, call=None, room_created=False, previous_owner_id=None)
    return resident


def test_it_lists_a_change_of_an_active_person_in_the_queue(gary, changed_a) -> None:
    html = logged_in(gary).get("/guard/").content.decode()
    assert f'data-testid="change-{changed_a.pk}"' in html and "1 项变更待审核" in html
    assert "审核变更" in html


def test_it_shows_old_and_new_side_by_side_with_only_changes_highlighted_and_masked(gary, changed_a) -> None:
    html = logged_in(gary).get(f"/guard/{changed_a.pk}/").content.decode()
    assert "当前（已通过）" in html and "新申请" in html
    assert 'data-testid="changed-name"' in html and 'data-testid="changed-phone"' in html
    assert 'data-testid="changed-id_card"' not in html and 'data-testid="changed-room"' not in html
    assert "王小五" in html
    for clear in ("13999998888", "13811112222", "510104199001011236"):
        assert clear not in html
    assert changed_a.masked_phone in html


def test_it_approves_a_change_from_the_detail_page(gary, changed_a) -> None:
    proposal = services.pending_proposal(changed_a)
    response = logged_in(gary).post(f"/guard/{changed_a.pk}/approve/", {"proposal": proposal.pk}, follow=True)
    assert "已通过 王五 的变更" in response.content.decode()
    changed_a.refresh_from_db()
    assert changed_a.status == Resident.Status.ACTIVE and changed_a.name == "王小五"
    assert changed_a.phone == "13999998888" and changed_a.ywlsh == "YW-A2"


def test_it_rejects_a_change_and_keeps_the_person_as_approved(gary, changed_a) -> None:
    proposal = services.pending_proposal(changed_a)
    client = logged_in(gary)
    response = client.post(f"/guard/{changed_a.pk}/reject/", {"proposal": proposal.pk, "reason": ""}, follow=True)
    assert "驳回 王五 须填写原因" in response.content.decode()
    response = client.post(f"/guard/{changed_a.pk}/reject/", {"proposal": proposal.pk, "reason": "号码不对"},
                           follow=True)
    assert "已驳回 王五 的变更，保留原信息" in response.content.decode()
    changed_a.refresh_from_db()
    assert changed_a.status == Resident.Status.ACTIVE and changed_a.name == "王五"
    assert changed_a.phone == "13811112222"


def test_it_refuses_a_decision_on_a_change_the_guard_has_not_seen(gary, changed_a) -> None:
    seen = services.pending_proposal(changed_a)
    fields = {**seen.fields, "ywlsh": "YW-A3", "name": "李四"}
    with transaction.atomic():
        services._propose_update(changed_a, fields, call=None, room_created=False, previous_owner_id=None)
    response = logged_in(gary).post(f"/guard/{changed_a.pk}/approve/", {"proposal": seen.pk}, follow=True)
    assert "王五 的申请已变化或已被审核，请重新查看" in response.content.decode()
    changed_a.refresh_from_db()
    assert changed_a.name == "王五"


def test_it_keeps_staff_of_b_away_from_changes_of_a(charlie, changed_a) -> None:
    proposal = services.pending_proposal(changed_a)
    response = logged_in(charlie).post(f"/guard/{changed_a.pk}/approve/", {"proposal": proposal.pk})
    assert response.status_code == 404
    changed_a.refresh_from_db()
    assert changed_a.name == "王五"


def test_it_lists_reviews_by_people_and_not_excel_imports(gary, alice, community_a, pending_a) -> None:
    # What an Excel import writes: an actor (the staff who imported) but nobody reviewed anyone.
    imported = ResidentFactory(community=community_a, name="导入者", status=Resident.Status.ACTIVE)
    ResidentChange.objects.create(resident=imported, actor=alice, actor_label="名单.xlsx", from_status="",
                                  to_status=Resident.Status.ACTIVE, reason="imported from Excel")
    # The city's registration: no actor.
    ResidentChange.objects.create(resident=imported, actor_label=services.CITY_ACTOR, from_status="",
                                  to_status=Resident.Status.PENDING, reason=services.REGISTERED_REASON)
    client = logged_in(gary)
    client.post(f"/guard/{pending_a.pk}/approve/")
    html = client.get("/guard/").content.decode()
    recent = html.split("最近审核", 1)[1]
    assert "王五" in recent and "门卫老王" in recent
    assert "导入者" not in recent and "从 Excel 导入" not in recent


def test_it_answers_the_queue_state_that_the_page_polls(gary, community_a, pending_a, pending_b) -> None:
    client = logged_in(gary)
    page = client.get("/guard/").content.decode()
    state = client.get("/guard/state/").json()
    assert state["pending"] == 1 and f'data-version="{state["version"]}"' in page
    assert "guard.js" in page and 'data-poll-seconds="' in page
    ResidentFactory(community=community_a, name="新来的", status=Resident.Status.PENDING)
    newer = client.get("/guard/state/").json()
    assert newer["pending"] == 2 and newer["version"] != state["version"]
    # Another community's arrivals change nothing for this guard.
    ResidentFactory(community=pending_b.community, status=Resident.Status.PENDING)
    assert client.get("/guard/state/").json() == newer
    assert Client().get("/guard/state/").status_code == 302  # to the guard login


def test_it_keeps_dates_on_one_line(gary, pending_a) -> None:
    pending_a.valid_from = timezone.now()
    pending_a.save()
    html = logged_in(gary).get("/guard/").content.decode()
    assert ".date { white-space: nowrap; }" in html and '<span class="date">' in html
