"""The city resends while the first call is still being processed: concurrent calls over HTTP to a
live server (threads, real database transactions) are each answered, and two workers applying them at
once (threads with their own connections) store each person once, in the order the calls arrived."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from residents import services
from residents.models import ApplyAccessCall, Resident, ResidentChange
from tests.factories import make_id_card

pytestmark = pytest.mark.django_db(transaction=True)


def body(ywlsh: str, owner: str = "OWNER-1", serial: int = 1) -> bytes:
    return json.dumps({
        "address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": "张三", "idCard": make_id_card(serial),
        "photo": "http://photos.example.com/1.jpg", "source": "01", "type": "01", "phone": "13812345678",
        "communityId": "CITY-A", "ownerId": owner, "ywlsh": ywlsh, "xbdm": 1}).encode()


def post_all(url: str, bodies: list[bytes]) -> list[dict]:
    def post(data: bytes) -> dict:
        response = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=60)
        return response.json()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def apply_in_two_workers() -> int:
    def worker(_: int) -> int:
        try:
            return services.apply_accepted_calls(batch_size=2)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(worker, range(2)))


def test_it_stores_a_person_once_when_the_same_call_races(live_server, community_a) -> None:
    answers = post_all(f"{live_server.url}/apply-access", [body("YW-1")] * 8)
    assert answers == [{"code": 1, "message": ""}] * 8
    assert apply_in_two_workers() == 8
    assert Resident.objects.count() == 1 and ResidentChange.objects.count() == 1
    outcomes = sorted(ApplyAccessCall.objects.values_list("outcome", flat=True))
    assert outcomes == ["duplicate"] * 7 + ["stored"]


def test_it_applies_racing_updates_one_after_the_other(live_server, community_a) -> None:
    answers = post_all(f"{live_server.url}/apply-access", [body(f"YW-{n}") for n in range(6)])
    assert answers == [{"code": 1, "message": ""}] * 6
    assert apply_in_two_workers() == 6
    resident = Resident.objects.get()
    # One creation and five updates, each with its history row, applied in the order the calls were
    # stored (whichever order the threads' requests arrived in): the last one is the row's ywlsh.
    changes = list(resident.changes.order_by("pk"))
    arrival = list(ApplyAccessCall.objects.order_by("pk").values_list("ywlsh", flat=True))
    assert [c.details["ywlsh"] for c in changes] == arrival
    assert resident.ywlsh == arrival[-1]
