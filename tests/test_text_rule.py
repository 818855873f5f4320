"""The one text rule (afxq_portal.text) and the JSON depth bound (afxq_portal.jsonbody) at every door: apply-access,
the device API, the Excel import and the admin forms. Text that cannot be stored (a lone surrogate, NUL, a control
character) is refused by field before anything is answered "accepted" or committed; names refuse bidirectional
controls too; digits are ASCII digits; a body nested too deep is a 400 in the API's envelope."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from django.utils import timezone, translation

from afxq_portal import jsonbody
from afxq_portal.text import ascii_digits, line_problem, nested_problems, scrub, text_problem, without_nul
from communities.forms import GuardForm
from communities.models import MonitoringPoint
from devices.models import DeviceEvent
from residents import services
from residents.admin import ResidentForm
from residents.excel.importer import run_import
from residents.models import ApplyAccessCall, Resident
from tests.device_helpers import auth, capture_b64, make_device
from tests.excel_books import HEADER, Sheet, write_xlsx
from tests.factories import BuildingFactory, ResidentFactory, RoomFactory, make_id_card
from tests.test_apply_access import payload
from uploads.contract import SHANGHAI

pytestmark = pytest.mark.django_db
PASS_URL = "/api/v1/devices/pass-events"
CAR_URL = "/api/v1/devices/car-snapshots"


def raw_json(data: object) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", as the city's or a device's JSON would.
    return json.dumps(data, ensure_ascii=True).encode()


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# --- The rule itself ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("张三", None), ("a\tb\r\nc", None), ("\ud800", "contains a lone surrogate (U+D800), which cannot be stored"),
    ("x\udfffy", "contains a lone surrogate (U+DFFF), which cannot be stored"), ("\x00", "contains a NUL character"),
    ("\x07", "contains a control character (U+0007)"), ("\x85", "contains a control character (U+0085)"),
    ("\x7f", "contains a control character (U+007F)"), ("a\u202eb", None),
])
def test_it_says_why_text_cannot_be_stored(text, expected):
    with translation.override("en"):
        assert text_problem(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("张三", None), ("Zoë O'Brien", None), ("阿依古丽·买买提", None),
    ("a\u202eb", "contains a bidirectional control character (U+202E)"),
    ("a\u2067b", "contains a bidirectional control character (U+2067)"),
    ("a\u200fb", "contains a bidirectional control character (U+200F)"),
    ("a\nb", "contains a control character (U+000A)"), ("a\u2028b", "contains a line or paragraph separator (U+2028)"),
    ("\ud800", "contains a lone surrogate (U+D800), which cannot be stored"),
])
def test_it_says_why_text_is_not_one_line_for_people(text, expected):
    with translation.override("en"):
        assert line_problem(text) == expected


def test_it_reads_only_ascii_digits_as_digits():
    assert ascii_digits("02") and not ascii_digits("")
    assert not any(ascii_digits(text) for text in ("٠٢", "۰۲", "०२", "²", "０２", "1 "))


def test_it_names_nested_fields_and_bad_field_names_with_escapes():
    with translation.override("en"):
        problems = nested_problems({"ok": "x", "images": ["fine", "\ud800"], "bad\ud800": 1, "n": {"k": "\x00"}})
    assert problems == [("images[1]", "contains a lone surrogate (U+D800), which cannot be stored"),
                        ("bad\\ud800", "the field name contains a lone surrogate (U+D800), which cannot be stored"),
                        ("n.k", "contains a NUL character")]
    assert all(name.encode("utf-8") for name, _reason in problems)
    assert scrub("a\ud800\x00b") == "a\ufffd\ufffdb"


def test_it_replaces_only_nul_in_text_kept_as_received():
    assert without_nul('{"a": "\x00\x07\x85"}\x00') == '{"a": "\ufffd\x07\x85"}\ufffd'


def test_it_bounds_json_depth_whatever_the_parser_allows():
    assert jsonbody.loads(nested(jsonbody.MAX_DEPTH)) == json.loads(nested(jsonbody.MAX_DEPTH))
    for levels in (jsonbody.MAX_DEPTH + 1, 1_000, 100_000):
        with pytest.raises(jsonbody.TooDeep):
            jsonbody.loads(nested(levels))
    assert jsonbody.depth({"a": [{"b": []}]}) == 4 and jsonbody.depth("x") == 0


# --- apply-access ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("name", "张\ud800三"), ("photo", "http://photos.example.com/p/\ud800.jpg"), ("ywlsh", "YW-\ud800"),
    ("communityId", "CITY-A\ud800"), ("address", "四川省成都市锦江区观音桥55号2栋1单元31楼06号\udc00"),
    ("ownerId", "\ud800"), ("idCard", "\ud800"), ("phone", "\ud800"), ("xbdm", "\ud800"),
])
def test_it_refuses_a_lone_surrogate_by_name_at_apply_access(client, community_a, field, value):
    """It was answered code 1 (name, photo) and lost by the worker, or an HTTP 500 (ywlsh, communityId, address)."""
    answer = client.post("/apply-access", raw_json(payload(**{field: value})), content_type="application/json")
    assert answer.status_code == 200
    code = "U+DC00" if "\udc00" in value else "U+D800"
    assert answer.json() == {"code": 0, "message": f"{field}: 含有无法存储的字符（孤立代理码位 {code}）"}
    call = ApplyAccessCall.objects.get()
    assert call.outcome == "refused" and call.answer_code == 0
    services.apply_accepted_calls()
    assert not Resident.objects.exists()


@pytest.mark.parametrize(("value", "reason"), [
    ("张\u202e三", "含有双向文本控制字符（U+202E）"), ("张\u2066三", "含有双向文本控制字符（U+2066）"),
    ("张\x07三", "含有控制字符（U+0007）"), ("张\x85三", "含有控制字符（U+0085）"),
])
def test_it_refuses_control_and_bidi_characters_in_a_name_at_apply_access(client, community_a, value, reason):
    answer = client.post("/apply-access", raw_json(payload(name=value)), content_type="application/json")
    assert answer.json() == {"code": 0, "message": f"name: {reason}"}
    assert ApplyAccessCall.objects.get().outcome == "refused"


@pytest.mark.parametrize("levels", [jsonbody.MAX_DEPTH + 1, 1_000, 5_000])
def test_it_answers_deep_nesting_with_a_400_envelope_at_apply_access(client, community_a, levels):
    """A 2 KB body nested 1,000 deep was an HTTP 500 telling the city to retry."""
    answer = client.post("/apply-access", nested(levels), content_type="application/json")
    assert answer.status_code == 400
    assert answer.json() == {"code": 0, "message": f"JSON 嵌套超过 {jsonbody.MAX_DEPTH} 层"}
    deep_object = b'{"name":' * levels + b"1" + b"}" * levels
    assert client.post("/apply-access", deep_object, content_type="application/json").status_code == 400


def test_it_answers_options_at_apply_access_with_the_envelope(client, community_a):
    answer = client.options("/apply-access")
    assert answer.status_code == 405
    assert answer.json() == {"code": 0, "message": "只接受 POST 请求"} and answer["Allow"] == "POST"


def test_it_reads_an_arabic_indic_content_length_as_no_number(client, community_a):
    answer = client.post("/apply-access", raw_json(payload()), content_type="application/json", CONTENT_LENGTH="²")
    assert answer.status_code < 500 and set(answer.json()) == {"code", "message"}


# --- The device API --------------------------------------------------------------------------------

def now_text() -> str:
    return (timezone.now() - timedelta(minutes=5)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def post_events(client, url: str, key: str, body: bytes):
    return client.post(url, body, content_type="application/json", **auth(key))


def test_it_refuses_unstorable_text_in_device_events_before_storing_any(client, community_a):
    """An HTML 500 after committing the events before it: every resend duplicated them."""
    device, key = make_device(community_a, MonitoringPoint.Kind.FACE_PANEL)
    ResidentFactory(community=community_a, city_owner_id="owner-777", name="张三")
    good = {"person": "owner-777", "time": now_text(), "image": capture_b64(), "eventId": "e-1"}
    events = [good, {**good, "eventId": "e-2", "person": "owner-\ud800"},
              {**good, "eventId": "e-3", "time": "\x00"}, {**good, "eventId": "e-4", "bad\ud800name": "x"}]
    for _attempt in range(2):  # the device resends the same batch: nothing twice
        answer = post_events(client, PASS_URL, key, raw_json(events))
        assert answer.status_code == 200, answer.content[:300]
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "refused", "refused", "refused"]
        assert [(r["field"], r["reason"]) for r in results[1:]] == [
            ("person", "contains a lone surrogate (U+D800), which cannot be stored"),
            ("time", "contains a NUL character"),
            ("bad\\ud800name", "the field name contains a lone surrogate (U+D800), which cannot be stored")]
    assert DeviceEvent.objects.count() == 1
    device.refresh_from_db()
    assert device.accepted_count == 1 and device.refused_count == 6 and "\\ud800" in device.last_refusal


def test_it_refuses_bidi_controls_in_a_snapshot_person_name(client, community_a):
    _device, key = make_device(community_a, MonitoringPoint.Kind.FACE_SNAPSHOT)
    event = {"time": now_text(), "personName": "张\u202e三", "images": [capture_b64()]}
    answer = post_events(client, "/api/v1/devices/face-snapshots", key, raw_json(event))
    assert answer.status_code == 200
    result = answer.json()["results"][0]
    assert (result["field"], result["reason"]) == ("personName", "contains a bidirectional control character (U+202E)")


@pytest.mark.parametrize("plate_type", ["٠٢", "۰۲", "०२", "²", "０２"])
def test_it_reads_only_ascii_digits_in_a_plate_type(client, community_a, plate_type):
    """plateType accepted Arabic-Indic digits (and "²" was an internal error: int() refuses it)."""
    _device, key = make_device(community_a, MonitoringPoint.Kind.VEHICLE_SNAPSHOT)
    event = {"time": now_text(), "plate": "川A12345", "plateType": plate_type, "images": [capture_b64()]}
    answer = post_events(client, CAR_URL, key, raw_json(event))
    assert answer.status_code == 200
    result = answer.json()["results"][0]
    assert result["status"] == "refused" and result["field"] == "plateType"


def test_it_reads_only_ascii_digits_in_a_device_time_and_person(client, community_a):
    _device, key = make_device(community_a, MonitoringPoint.Kind.FACE_PANEL)
    resident = ResidentFactory(community=community_a, city_owner_id="owner-1", status="active")
    arabic = str(resident.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    arabic_time = now_text().translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    answer = post_events(client, PASS_URL, key, raw_json([{"person": arabic, "time": now_text(), "image": "x"},
                                                          {"person": "owner-1", "time": arabic_time, "image": "x"}]))
    results = answer.json()["results"]
    assert [(r["status"], r["field"]) for r in results] == [("refused", "person"), ("refused", "time")]


@pytest.mark.parametrize("levels", [jsonbody.MAX_DEPTH + 1, 1_000, 50_000])
def test_it_answers_deep_nesting_with_a_400_at_the_device_api(client, community_a, levels):
    """It was an HTML 500 (RecursionError is not a ValueError)."""
    _device, key = make_device(community_a, MonitoringPoint.Kind.FACE_PANEL)
    answer = post_events(client, PASS_URL, key, nested(levels))
    assert answer.status_code == 400
    assert answer.json() == {"detail": f"the JSON is nested more than {jsonbody.MAX_DEPTH} levels deep"}
    assert not DeviceEvent.objects.exists()


# --- Excel -----------------------------------------------------------------------------------------

def test_it_refuses_control_and_bidi_characters_by_column_in_an_excel_import(community_a, tmp_path: Path):
    """XML keeps C1 controls and bidirectional controls (not C0 controls nor surrogates: the parser refuses those)."""
    building = BuildingFactory(community=community_a, number="1")
    RoomFactory(building=building, unit="1", floor="3", number="01")

    def row(serial: int, name: str) -> list:
        return [name, make_id_card(serial), f"138{serial:08d}", "男", "住户", "1", "1", "3", "01"]

    rows = [HEADER, row(1, "居民1"), row(2, "李\x85四"), row(3, "王\u202e五"), [*row(4, "赵六"), None, None, None, "\x9b"]]
    result_path = tmp_path / "result.xlsx"
    with translation.override("en"):
        summary = run_import(write_xlsx(tmp_path / "book.xlsx", [Sheet("人员信息", rows)]), community_a,
                             commit=True, result_path=result_path)
    messages = {p["row"]: p["message"] for p in summary.problems}
    assert (summary.accepted, summary.refused, summary.written) == (1, 3, 1)
    assert messages[3] == "姓名：contains a control character (U+0085)"
    assert messages[4] == "姓名：contains a bidirectional control character (U+202E)"
    assert messages[5] == "UUID：contains a control character (U+009B)"
    assert list(Resident.objects.values_list("name", flat=True)) == ["居民1"]
    sheet = openpyxl.load_workbook(result_path).active
    assert sheet.cell(row=3, column=1).value == "李\ufffd四"
    assert sheet.cell(row=3, column=14).value == messages[3]


# --- Admin forms -----------------------------------------------------------------------------------

def test_it_refuses_control_and_bidi_characters_in_admin_forms(community_a):
    with translation.override("en"):
        guard = GuardForm(data={"community": community_a.pk, "name": "门卫\u202e甲", "phone": "13900000001",
                                "id_card": make_id_card(7), "password": "a-Long-pass-123"})
        assert guard.errors["name"] == ["contains a bidirectional control character (U+202E)"]
        resident = ResidentForm(data={"community": community_a.pk, "name": "张\x1b三", "address": "观音桥\u2067",
                                      "reject_reason": "bad\x07", "id_card": make_id_card(8), "phone": "13900000002"})
        errors = resident.errors
    assert errors["name"] == ["contains a control character (U+001B)"]
    assert errors["address"] == ["contains a bidirectional control character (U+2067)"]
    assert errors["reject_reason"] == ["contains a control character (U+0007)"]


# --- The address (path and query string) -----------------------------------------------------------

@pytest.mark.parametrize(("url", "reason"), [("/apply-access?x=%00", "含有空字符（NUL）"),
                                             ("/apply-access?x=%07", "含有控制字符（U+0007）"),
                                             ("/apply-access?x%1b=1", "含有控制字符（U+001B）")])
def test_it_refuses_unstorable_text_in_the_address_by_the_same_rule(client, url, reason):
    answer = client.post(url, raw_json(payload()), content_type="application/json")
    assert answer.status_code == 400
    assert answer.json() == {"code": 0, "message": f"网址{reason}。"}
    assert not ApplyAccessCall.objects.exists()


def test_it_refuses_control_and_bidi_characters_in_provincial_point_names():
    from communities.points import parse_point_name_lines

    with translation.override("en"):
        pairs, problems = parse_point_name_lines("PP-1,东门\nPP-2,东\u202e门\nPP\x1b3,西门\nPP-4,北\x9b门")
    assert pairs == [("PP-1", "东门")]
    assert problems == ["line 2: the name contains a bidirectional control character (U+202E)",
                        "line 3: the point id contains a control character (U+001B)",
                        "line 4: the name contains a control character (U+009B)"]


def test_it_gives_every_admin_form_of_community_data_the_text_rule():
    from django.contrib import admin

    from afxq_portal.text import TextRulesFormMixin
    from communities.admin import GenerateRoomsForm
    from communities.admin_points import PointNamesForm
    from communities.admin_scope import ScopedModelAdmin

    scoped = [model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, ScopedModelAdmin)]
    assert len(scoped) >= 8
    assert all(issubclass(model_admin.form, TextRulesFormMixin) for model_admin in scoped)
    with translation.override("en"):
        rooms = GenerateRoomsForm(data={"units": "1\u202e", "floors": "1-6", "numbers": "01-04"})
        assert rooms.errors["units"] == ["contains a bidirectional control character (U+202E)"]
        assert GenerateRoomsForm(data={"units": "²-³", "floors": "1-6", "numbers": "01-04"}).errors["units"]
        lines = PointNamesForm(data={"community": "", "lines": "PP-1,东\x07门"})
        assert lines.errors["lines"] == ["contains a control character (U+0007)"]


@pytest.mark.parametrize("url", ["/api/v1/devices/faces/x%0b/photo", "/no-such-page%00", "/api/v1/nothing?x=%00"])
def test_it_leaves_an_address_no_view_answers_to_the_resolvers_404(client, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("code", range(128))
def test_ascii_text_gets_the_same_verdict_as_any_text(code: int) -> None:
    # ASCII text is checked as bytes (a megabyte of base64 in a device event): the verdict must be the pattern's.
    ascii_text = "QUJD" * 1000 + chr(code) + "QUJD"
    with_a_wide_character = ascii_text + "中"  # not ASCII: checked by the pattern
    assert text_problem(ascii_text) == text_problem(with_a_wide_character)
    assert (text_problem(ascii_text) is None) == (code in (9, 10, 13) or 32 <= code < 127)
