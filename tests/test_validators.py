"""Bad input is refused with a message naming the field and the reason (in Chinese for users), and
nothing is half-saved: ID cards (GB 11643), phones, addresses, point numbers vs provincial names."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from afxq_portal.validators import id_card_problem, phone_problem, validate_id_card, validate_phone
from communities.forms import GuardForm
from communities.models import Community, Guard, MonitoringPoint, SiteCredential
from communities.points import PointSpec, import_provincial_names, parse_point_name_lines
from communities.services import configure_community
from residents.validation import check_person
from tests.factories import PointFactory, make_id_card

VALID_ID = make_id_card(123)


pytestmark = pytest.mark.usefixtures("english")


def _with_check_digit(first17: str) -> str:
    from afxq_portal.validators import id_card_check_character

    return first17 + id_card_check_character(first17)


def _wrong_check_digit(value: str) -> str:
    return value[:17] + ("0" if value[17] != "0" else "1")


# --- ID cards --------------------------------------------------------------------------------------

def test_it_accepts_a_valid_id_card_with_a_lower_case_x():
    with_x = next(_with_check_digit(f"51010419900101{n:03d}") for n in range(1000)
                  if _with_check_digit(f"51010419900101{n:03d}").endswith("X"))
    assert id_card_problem(VALID_ID) is None
    assert id_card_problem(with_x.lower()) is None


@pytest.mark.parametrize(("value", "reason"), [
    (_wrong_check_digit(VALID_ID), "check digit is wrong"),
    (VALID_ID[:17], "must be 18 characters, got 17"),
    (VALID_ID + "1", "must be 18 characters, got 19"),
    ("", "must be 18 characters, got 0"),
    ("51010419900101A23" + "4", "must be 17 digits followed by a digit or X"),
    ("01010419900101123X", "must be 17 digits followed by a digit or X"),  # no region code starts with 0
    (_with_check_digit("51010419900230123"), "impossible birth date"),  # 30 February
    (_with_check_digit("51010419901301123"), "impossible birth date"),  # month 13
    (_with_check_digit("51010418991231123"), "impossible birth date"),  # before 1900
    (_with_check_digit("51010430000101123"), "impossible birth date"),  # in the future
])
def test_it_refuses_an_invalid_id_card_naming_the_reason(value: str, reason: str):
    assert reason in id_card_problem(value)
    with pytest.raises(ValidationError) as caught:
        validate_id_card(value)
    assert caught.value.code == "invalid_id_card"
    assert str(caught.value.messages[0]).startswith("ID card ")


def test_it_explains_id_card_problems_in_chinese():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        validate_id_card(_wrong_check_digit(VALID_ID))
    assert caught.value.messages == ["身份证号校验位错误（GB 11643）"]


# --- Phones ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["13812345678", "+8613812345678", "138 1234 5678", "028-85551234", "02885551234"])
def test_it_accepts_mobiles_and_landlines(value: str):
    assert phone_problem(value) is None
    validate_phone(value)


@pytest.mark.parametrize(("value", "reason"), [
    ("", "is empty"),
    ("1381234567", "is not a mobile number"),  # 10 digits
    ("138123456789", "is not a mobile number"),  # 12 digits
    ("12012345678", "is not a mobile number"),  # no mobile prefix 12x
    ("phone", "is not a mobile number"),
])
def test_it_refuses_an_invalid_phone_naming_the_reason(value: str, reason: str):
    assert reason in phone_problem(value)
    with pytest.raises(ValidationError) as caught:
        validate_phone(value)
    assert caught.value.code == "invalid_phone"


def test_it_explains_phone_problems_in_chinese():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        validate_phone("12345")
    assert caught.value.messages == ["手机号应为 1 开头的 11 位数字或带区号的固定电话号码"]


# --- A person's address (residents.validation: the one set of rules for every door) -----------------

def _person(community: Community, **overrides: str) -> dict:
    raw = {"name": "张三", "id_card": VALID_ID, "phone": "13812345678", "sex": "1", "person_type": "01",
           "address": f"{community.standard_address}2栋1单元3楼06号"}
    return {**raw, **overrides}


def test_it_accepts_a_person_in_the_community(community_a):
    person, problems = check_person(community_a, _person(community_a))
    assert problems == []
    assert (person.seven_segment.building, person.seven_segment.room) == ("2", "06")


@pytest.mark.parametrize(("address", "reason"), [
    ("四川省成都市青羊区观音桥55号2栋1单元3楼06号", "is outside the community: district “青羊区”"),
    ("四川省成都市锦江区草市街1号2栋1单元3楼06号", "is outside the community: street and number “草市街1号”"),
    ("四川省成都市锦江区观音桥55号", "is not a 7-segment address"),
    ("观音桥55号2栋1单元3楼06号", "is not a standard address"),
])
def test_it_refuses_an_address_outside_the_community_or_not_7_segment(community_a, address: str, reason: str):
    person, problems = check_person(community_a, _person(community_a, address=address))
    assert person is None
    assert [p.field for p in problems] == ["address"]
    assert reason in problems[0].message


def test_it_names_every_bad_field_of_a_person_at_once(community_a):
    person, problems = check_person(community_a, _person(
        community_a, name="", id_card=_wrong_check_digit(VALID_ID), phone="123", sex="9", person_type="07"))
    assert person is None
    assert [p.field for p in problems] == ["name", "id_card", "phone", "sex", "person_type"]


# --- Point numbers vs provincial names --------------------------------------------------------------

def test_it_flags_a_point_whose_number_differs_from_the_provincial_name(community_a):
    assert PointFactory(community=community_a, number="东门1", provincial_name="东门1").name_matches
    assert not PointFactory(community=community_a, number="东门2", provincial_name="东门02").name_matches
    assert not PointFactory(community=community_a, number="东门3", provincial_name="").name_matches
    # Character for character: a full-width digit is a different name.
    assert not PointFactory(community=community_a, number="东门4", provincial_name="东门４").name_matches


def test_it_refuses_malformed_provincial_name_lines():
    pairs, problems = parse_point_name_lines("PP-1,东门1\nno separator here\n,名字\nPP-2\t西门1\nPP-3，南门1\n")
    assert pairs == [("PP-1", "东门1"), ("PP-2", "西门1"), ("PP-3", "南门1")]
    assert problems == ["line 2: expected “policePointId,point name”",
                        "line 3: the point id and the name are both required"]


def test_it_imports_provincial_names_and_reports_what_still_differs(community_a, community_b):
    match = PointFactory(community=community_a, police_point_id="PP-1", number="东门1", provincial_name="")
    differ = PointFactory(community=community_a, police_point_id="PP-2", number="西门1", provincial_name="")
    theirs = PointFactory(community=community_b, police_point_id="PP-9", number="北门", provincial_name="北门")
    result = import_provincial_names(community_a, [("PP-1", "东门1"), ("PP-2", "西门01"), ("PP-9", "改掉"),
                                                   ("PP-404", "无")])
    assert {p.pk for p in result.updated} == {match.pk, differ.pk}
    assert [p.pk for p in result.mismatched] == [differ.pk]
    # Another community's point is "unknown" here and stays as it was.
    assert result.unknown == ["PP-9", "PP-404"]
    theirs.refresh_from_db()
    assert theirs.provincial_name == "北门"


@pytest.mark.parametrize(("text", "reason"), [
    ("PP-1", "expected POLICE_POINT_ID:NUMBER[:KIND]"),
    ("PP-1:", "expected POLICE_POINT_ID:NUMBER[:KIND]"),
    ("PP-1:东门:door", "kind must be one of"),
])
def test_it_refuses_a_malformed_point_spec(text: str, reason: str):
    with pytest.raises(ValueError, match=re.escape(reason)):
        PointSpec.parse(text)


@pytest.mark.parametrize(("points", "reason"), [
    (["PP-1:东门1", "PP-2:东门1"], "point PP-2: Monitoring point with this Community and Point number (点位编号) already exists."),  # one number for two points
    (["PP-1:" + "门" * 101], "point PP-1: number: "),
])
def test_it_refuses_a_bad_point_number_and_saves_nothing(db, points: list[str], reason: str):
    args = ["configure_community", "--city-id", "CITY-NEW", "--name", "新小区", "--address", "四川省成都市锦江区观音桥99号"]
    for point in points:
        args += ["--point", point]
    with pytest.raises(CommandError, match=re.escape(reason)):
        call_command(*args)
    assert not Community.objects.filter(city_id="CITY-NEW").exists()
    assert not MonitoringPoint.objects.exists()


# --- Nothing half-saved -------------------------------------------------------------------------------

def test_it_saves_nothing_of_a_new_community_when_a_point_is_refused(community_b):
    PointFactory(community=community_b, police_point_id="PP-TAKEN")
    with pytest.raises(ValueError, match="belongs to another community"):
        configure_community(
            city_id="CITY-NEW", name="新小区", address="四川省成都市锦江区观音桥99号",
            site_credentials={"client_id": "c", "client_secret": "s", "username": "u", "password": "p"},
            points=[PointSpec("PP-FRESH", "东门1"), PointSpec("PP-TAKEN", "西门1")])
    assert not Community.objects.filter(city_id="CITY-NEW").exists()
    assert not SiteCredential.objects.filter(community__city_id="CITY-NEW").exists()
    assert not MonitoringPoint.objects.filter(police_point_id="PP-FRESH").exists()


def test_it_leaves_an_existing_community_unchanged_when_the_command_fails(community_a, community_b):
    PointFactory(community=community_b, police_point_id="PP-TAKEN")
    with pytest.raises(CommandError, match="belongs to another community"):
        call_command("configure_community", "--city-id", community_a.city_id, "--name", "改名",
                     "--point", "PP-NEW:东门1", "--point", "PP-TAKEN:西门1")
    community_a.refresh_from_db()
    assert community_a.name == "锦江花园"
    assert not MonitoringPoint.objects.filter(police_point_id="PP-NEW").exists()


@pytest.mark.parametrize("address", ["观音桥99号", "四川省成都市锦江区", ""])
def test_it_refuses_a_new_community_with_a_bad_address(db, address: str):
    with pytest.raises(CommandError):
        call_command("configure_community", "--city-id", "CITY-NEW", "--name", "新小区", "--address", address)
    assert not Community.objects.filter(city_id="CITY-NEW").exists()


def test_it_refuses_a_guard_with_a_bad_id_card_or_phone(community_a):
    form = GuardForm(data={"community": community_a.pk, "name": "门卫", "phone": "12345",
                           "id_card": _wrong_check_digit(VALID_ID), "password": "a-long-password-2026"})
    assert not form.is_valid()
    assert set(form.errors) == {"phone", "id_card"}
    assert "check digit is wrong" in form.errors["id_card"][0]
    assert not Guard.objects.exists()
