"""The city resends while the first call is still being processed: concurrent calls over HTTP to a
live server (threads, real database transactions) store each person once and answer each call."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

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


def test_it_stores_a_person_once_when_the_same_call_races(live_server, community_a) -> None:  # noqa: ANN001
    answers = post_all(f"{live_server.url}/apply-access", [body("YW-1")] * 8)
    assert answers == [{"code": 1, "message": ""}] * 8
    assert Resident.objects.count() == 1 and ResidentChange.objects.count() == 1
    outcomes = sorted(ApplyAccessCall.objects.values_list("outcome", flat=True))
    assert outcomes == ["duplicate"] * 7 + ["stored"]


def test_it_applies_racing_updates_one_after_the_other(live_server, community_a) -> None:  # noqa: ANN001
    answers = post_all(f"{live_server.url}/apply-access", [body(f"YW-{n}") for n in range(6)])
    assert answers == [{"code": 1, "message": ""}] * 6
    resident = Resident.objects.get()
    # One creation and five updates, each with its history row; the last one applied is the row's ywlsh.
    changes = list(resident.changes.order_by("pk"))
    assert len(changes) == 6
    assert changes[-1].details["ywlsh"] == resident.ywlsh
    assert sorted(c.details["ywlsh"] for c in changes) == [f"YW-{n}" for n in range(6)]
