"""The sandbox city platform, as a real process over HTTP: it enforces the contract the way the city
does, so that passing against it means something."""

from __future__ import annotations

import ast
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from uploads.testing import jpeg, when

pytestmark = pytest.mark.integration


def token(sandbox, credentials=("client", "client-secret", "site-user", "site-password")) -> requests.Response:
    client_id, secret, user, password = credentials
    return requests.post(f"{sandbox.url}/oauth/token", timeout=10, data={
        "grant_type": "password", "client_id": client_id, "client_secret": secret, "username": user,
        "password": password})


def upload(sandbox, path: str, records: list, access_token: str) -> requests.Response:
    return requests.post(f"{sandbox.url}/api/platform/{path}", data=json.dumps(records), timeout=10,
                         headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def good_pass_record(**changes) -> dict:
    record = {"outId": "1", "way": "FACE", "openDate": when(), "communityId": "CITY-A", "type": "USER",
              "userId": "owner-1", "policePointId": "PP-1", "inout": "in", "source": "THIRDPARTY_CLIENT",
              "imageBase64": b64(jpeg(800, 600)), "bigImageBase64": b64(jpeg(800, 600))}
    record.update(changes)
    return record


def test_it_issues_tokens_for_known_credentials_only(sandbox_city):
    answer = token(sandbox_city).json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] > 0 and answer["access_token"]
    assert token(sandbox_city, ("demo-client", "demo-secret", "demo-site", "demo-password")).status_code == 200
    refused = token(sandbox_city, ("client", "client-secret", "site-user", "wrong"))
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Bad credentials"}


def test_it_answers_401_without_a_valid_token_in_both_styles(sandbox_city):
    first = upload(sandbox_city, "person-inout-info", [good_pass_record()], "nonsense")
    second = upload(sandbox_city, "person-inout-info", [good_pass_record()], "nonsense")
    assert {first.status_code, second.status_code} == {200, 401}
    assert first.json()["responseCode"] == second.json()["responseCode"] == "_401"


def test_it_expires_tokens_after_the_configured_lifetime(sandbox_city):
    import time

    sandbox_city.configure(token_lifetime=1)
    access = token(sandbox_city).json()["access_token"]
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).json()["responseCode"] == "_200"
    time.sleep(1.2)
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).json()["responseCode"] == "_401"


@pytest.mark.parametrize(("changes", "error"), [
    ({"imageBase64": "data:image/jpg;base64," + b64(jpeg(800, 600))}, "imageBase64：须为纯 Base64"),
    ({"bigImageBase64": b64(jpeg(640, 480))}, "bigImageBase64：640x480，小于 800x600"),
    ({"openDate": "2026/11/26 08:00"}, "openDate：格式须为 yyyy-MM-dd HH:mm:ss"),
    ({"type": "01"}, "type：须为以下之一"),
    ({"source": "CLIENT"}, "source：须为 THIRDPARTY_CLIENT"),
    ({"inout": "IN"}, "inout：须为 in 或 out"),
    ({"userId": ""}, "userId：必填"),
])
def test_it_rejects_a_pass_record_that_breaks_the_contract(sandbox_city, changes, error):
    access = token(sandbox_city).json()["access_token"]
    answer = upload(sandbox_city, "person-inout-info", [good_pass_record(), good_pass_record(**changes)], access).json()
    assert answer["responseCode"] == "_500"
    assert f"第 1 条记录：{error}" in answer["errorMsg"]
    assert sandbox_city.records() == []  # all or nothing


def test_it_checks_batch_size_and_snapshot_limits(sandbox_city):
    access = token(sandbox_city).json()["access_token"]
    too_many = upload(sandbox_city, "person-inout-info", [good_pass_record()] * 51, access).json()
    assert "每次最多 50 条记录" in too_many["errorMsg"]
    snapshot = {"passType": 0, "passDate": when(), "policePointId": "PP-2", "communityId": "CITY-A",
                "photoBase1": b64(jpeg(800, 600))}
    small = upload(sandbox_city, "image/people", [snapshot], access).json()
    assert "photoBase1：800x600，小于 1200x800" in small["errorMsg"]
    car = {**snapshot, "photoBase1": b64(jpeg(1200, 800)), "licensePlate": "川A12345", "licensePlateType": 99}
    assert "licensePlateType：不在代码表中" in upload(sandbox_city, "image/car", [car], access).json()["errorMsg"]
    car["licensePlateType"] = 2
    assert upload(sandbox_city, "image/car", [car], access).json()["responseCode"] == "_200"
    stored = sandbox_city.records("image/car")[0]["fields"]
    assert stored["licensePlate"] == "川A12345" and stored["photoBase1"] == {"bytes": len(jpeg(1200, 800)),
                                                                          "size": [1200, 800]}


def test_it_injects_faults_on_demand(sandbox_city):
    access = token(sandbox_city).json()["access_token"]
    sandbox_city.set_faults({"503": 1.0})
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).status_code == 503
    sandbox_city.set_faults({"drop": 1.0})
    with pytest.raises(requests.ConnectionError):
        upload(sandbox_city, "person-inout-info", [good_pass_record()], access)
    sandbox_city.set_faults({"drop_after": 1.0})
    with pytest.raises(requests.ConnectionError):
        upload(sandbox_city, "person-inout-info", [good_pass_record()], access)
    assert len(sandbox_city.records()) == 1 and sandbox_city.batches()[0]["answer_lost"]
    sandbox_city.set_faults({"expired_401": 1.0})
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).status_code == 401
    sandbox_city.set_faults({})
    # An expired token stays expired.
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).json()["responseCode"] == "_401"
    with pytest.raises(requests.HTTPError):
        requests.post(f"{sandbox_city.url}/_sandbox/faults", json={"faults": {"meteor": 1}}, timeout=5).raise_for_status()


def test_it_pushes_apply_access_calls_to_a_portal_and_shows_what_it_stored(sandbox_city):
    payload = {"name": "张三", "idCard": "510104199001011230", "ywlsh": "YW1", "communityId": "CITY-A"}
    answer = sandbox_city.push_apply_access(f"{sandbox_city.url}/_sandbox/callback", payload)
    assert answer["status"] == 200 and json.loads(answer["body"]) == {"code": 1}
    assert sandbox_city.callbacks() == [payload]
    access = token(sandbox_city).json()["access_token"]
    upload(sandbox_city, "person-inout-info", [good_pass_record(outId="visible-on-the-page")], access)
    page = requests.get(sandbox_city.url + "/", timeout=5).text
    assert "沙箱市级平台" in page and "visible-on-the-page" in page


# --- the page for people, the photos, the pushes (make run's demo) --------------------------------------

def test_it_serves_generated_face_photos(sandbox_city):
    import io

    from PIL import Image

    first = requests.get(f"{sandbox_city.url}/_sandbox/photos/3.jpg", timeout=10)
    assert first.status_code == 200 and first.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(first.content), formats=["JPEG"]) as image:
        assert image.size == (480, 600)
    assert requests.get(f"{sandbox_city.url}/_sandbox/photos/3.jpg", timeout=10).content == first.content
    assert requests.get(f"{sandbox_city.url}/_sandbox/photos/4.jpg", timeout=10).content != first.content
    assert requests.get(f"{sandbox_city.url}/_sandbox/photos/x.jpg", timeout=10).status_code == 404


def test_it_offers_a_page_in_chinese_that_turns_faults_on_and_off(sandbox_city):
    page = requests.get(sandbox_city.url + "/", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    for text in ("沙箱市级平台", "推送一位人员", "故障注入", "全部关闭", "收到的记录", "推送记录", "登记回调"):
        assert text in page.text, text
    assert "Sandbox" not in page.text and "Records stored" not in page.text
    response = requests.post(f"{sandbox_city.url}/_sandbox/page/faults", data={"_500": "0.5", "503": "1"},
                             allow_redirects=False, timeout=5)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert sandbox_city.stats()["faults"] == {"_500": 0.5, "503": 1.0}
    assert "业务错误 _500 0.5" in requests.get(sandbox_city.url + "/", timeout=5).text
    requests.post(f"{sandbox_city.url}/_sandbox/page/faults", data={"clear": "1", "503": "1"}, timeout=5)
    assert sandbox_city.stats()["faults"] == {}
    access = token(sandbox_city).json()["access_token"]
    sandbox_city.set_faults({"_500": 1.0})
    assert upload(sandbox_city, "person-inout-info", [good_pass_record()], access).json()["errorMsg"] == "沙箱：注入的故障"


def test_it_pushes_a_person_from_its_page_with_a_photo_it_serves(sandbox_city):
    # The sandbox's own receiver plays the portal: it keeps what the page pushed.
    response = requests.post(f"{sandbox_city.url}/_sandbox/page/push", timeout=10, allow_redirects=False, data={
        "url": f"{sandbox_city.url}/_sandbox/callback", "community": "CITY-A", "name": "测试人", "type": "02"})
    assert response.status_code == 303
    [pushed] = sandbox_city.callbacks()
    assert pushed["name"] == "测试人" and pushed["communityId"] == "CITY-A" and pushed["type"] == "02"
    assert pushed["photo"].startswith(f"{sandbox_city.url}/_sandbox/photos/")
    assert requests.get(pushed["photo"], timeout=10).headers["Content-Type"] == "image/jpeg"
    from afxq_portal.validators import id_card_problem

    assert id_card_problem(pushed["idCard"]) is None
    [push] = sandbox_city.pushes()
    assert push["status"] == 200 and push["ywlsh"] == pushed["ywlsh"]
    assert "测试人" in requests.get(sandbox_city.url + "/", timeout=5).text


@pytest.mark.django_db(transaction=True)
def test_it_registers_a_person_at_the_portal_whose_photo_the_portal_fetches(sandbox_city, live_server, settings):
    """make run's demo, end to end but for the workers: the sandbox pushes to the portal's apply-access, the
    portal applies the call and fetches the photo from the sandbox (allowed on loopback, as make run allows it)."""
    from urllib.parse import urlsplit

    from afxq_portal.netlist import parse_allowed_networks
    from residents import photos, services
    from residents.models import Resident
    from tests.factories import CommunityFactory, RoomFactory

    community = CommunityFactory(city_id="DEMO-0001", district="锦江区", street="观音桥55号")
    RoomFactory(building__community=community, building__number="1", unit="1", floor="3", number="01")
    push = sandbox_city.push_person(url=f"{live_server.url}/apply-access", community="DEMO-0001")
    assert push["status"] == 200 and json.loads(push["answer"])["code"] == 1, push
    services.apply_accepted_calls()
    resident = Resident.objects.get(community=community)
    assert resident.name == push["name"] and resident.status == Resident.Status.PENDING
    assert resident.photo_url == push["photo"]
    port = urlsplit(sandbox_city.url).port
    settings.PHOTO_FETCH_ALLOWED_NETWORKS = parse_allowed_networks("PHOTO_FETCH_ALLOWED_NETWORKS",
                                                                   [f"127.0.0.1/32:{port}"])
    assert services.store_photo(resident.pk, resident.photo_url, photos.fetch_photo(resident.photo_url))
    resident.refresh_from_db()
    assert resident.photo and resident.photo_status == Resident.PhotoStatus.OK


# --- a development tool, outside the portal ------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def production_modules() -> list[Path]:
    """Every module of the portal's own apps and of the project package, migrations included."""
    from django.apps import apps

    own = [Path(config.path) for config in apps.get_app_configs() if Path(config.path).is_relative_to(ROOT)]
    return sorted(path for package in [ROOT / "afxq_portal", *own] for path in package.rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}


def test_it_is_neither_an_app_nor_imported_by_one() -> None:
    from django.conf import settings

    assert not [app for app in settings.INSTALLED_APPS if app.split(".")[0] == "sandbox"]
    modules = production_modules()
    assert ROOT / "uploads" / "outbox.py" in modules and not [p for p in modules if "sandbox" in p.parts]
    importers = [str(path.relative_to(ROOT)) for path in modules
                 if any(name == "sandbox" or name.startswith("sandbox.") for name in imported_names(path))]
    assert importers == []


def test_it_runs_without_django() -> None:
    # The sandbox is the other party: it must not lean on the portal's settings or code.
    script = "import sys, sandbox.city; assert not [m for m in sys.modules if m.split('.')[0] in " \
             "('django', 'afxq_portal', 'uploads')], sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, check=False)
    assert result.returncode == 0, result.stderr


def test_it_is_configured_by_make_run_for_every_community_and_for_its_photos(db) -> None:
    import importlib.util

    from tests.factories import SiteCredentialFactory

    spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
    devstack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(devstack)
    SiteCredentialFactory(client_id="cid-1", client_secret="s-1", username="u-1", password="p-1")
    env = devstack.sandbox_env({"SANDBOX_CITY_CREDENTIALS": "extra:x:y:z"})
    assert env["SANDBOX_CITY_CREDENTIALS"].split(",") == ["extra:x:y:z", "cid-1:s-1:u-1:p-1"]
    assert env["PHOTO_FETCH_ALLOWED_NETWORKS"] == f"127.0.0.1/32:{devstack.SANDBOX_PORT}"
    assert env["CITY_PLATFORM_BASE_URL"] == devstack.SANDBOX_URL
    assert env["SANDBOX_PORTAL_URL"] == "http://127.0.0.1:8000/apply-access"
    source = (ROOT / "scripts" / "devstack.py").read_text(encoding="utf-8")
    assert 'print(f"   sandbox city: {SANDBOX_URL}/' in source  # make run names the sandbox's page
