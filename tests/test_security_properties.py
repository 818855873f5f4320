"""Property tests (hypothesis) on the rules every input path shares: the ID card and phone validators, the
address parser and check_person. Whatever they are given they answer (a problem or a value) and never raise
anything but their own AddressError; and what the strategies build as valid, they accept."""

from __future__ import annotations

import datetime as dt
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afxq_portal.validators import id_card_check_character, id_card_problem, phone_problem
from communities.addresses import (
    AddressError,
    differing_part,
    format_seven_segment,
    parse_seven_segment,
    parse_standard_address,
)
from residents.validation import check_person
from tests.factories import CommunityFactory

PROPERTIES = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=80),
                      st.binary(max_size=20).map(lambda b: b.decode("latin-1")))
# Place names: no suffix character (省 市 区 县 旗 州 盟 …) inside, so the parts are unambiguous.
NAME_CHARS = "锦江青羊武侯成华金牛天府观音桥春熙玉林草堂龙泉高新双流温江郫都彭新津"


@st.composite
def id_cards(draw: st.DrawFn) -> str:
    region = draw(st.integers(110000, 659999))
    birth = draw(st.dates(dt.date(1900, 1, 1), dt.date.today()))
    sequence = draw(st.integers(0, 999))
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_card_check_character(first17)


mobiles = st.builds(lambda prefix, second, rest: f"{prefix}1{second}{rest:09d}",
                    st.sampled_from(["", "+86", "86"]), st.integers(3, 9), st.integers(0, 10**9 - 1))
place = st.text(alphabet=NAME_CHARS, min_size=1, max_size=6)
standard_addresses = st.builds(
    lambda province, city, district, street, number: (f"{province}省", f"{city}市", f"{district}区", f"{street}{number}号"),
    place, place, place, place, st.integers(1, 9999))
segments = st.integers(1, 99).map(str)


@PROPERTIES
@given(id_cards(), st.booleans())
def test_it_accepts_every_well_formed_id_card(id_card, lower_x):
    if lower_x:
        id_card = id_card.lower()  # "x" is read as "X"
    assert id_card_problem(id_card) is None


@PROPERTIES
@given(id_cards(), st.integers(0, 16), st.integers(1, 9))
def test_it_refuses_an_id_card_with_one_digit_changed(id_card, position, delta):
    digit = str((int(id_card[position]) + delta) % 10)
    changed = id_card[:position] + digit + id_card[position + 1:]
    assert id_card_problem(changed) is not None  # MOD 11-2 catches every single-digit error


@PROPERTIES
@given(ANY_VALUE)
def test_it_answers_any_id_card_or_phone_with_a_problem_or_none(value):
    for check in (id_card_problem, phone_problem):
        answer = check(value if isinstance(value, str) or value is None else str(value))
        assert answer is None or (isinstance(answer, str) and answer)


@PROPERTIES
@given(mobiles)
def test_it_accepts_every_mobile_number(phone):
    assert phone_problem(phone) is None


@PROPERTIES
@given(standard_addresses, segments, segments, st.integers(-3, 60).map(str), segments, st.sampled_from(["楼", "层"]))
def test_it_parses_what_it_formats(parts, building, unit, floor, room, floor_word):
    standard = "".join(parts)
    parsed = parse_standard_address(standard)
    assert (parsed.province, parsed.city, parsed.district, parsed.street) == parts
    assert differing_part(parsed, parsed) is None
    seven = format_seven_segment(standard, building, unit, floor, room).replace("楼", floor_word)
    address = parse_seven_segment(seven)
    assert (address.standard, address.building, address.unit, address.floor, address.room) == (
        parsed, building, unit, floor, room)
    assert parse_seven_segment(str(address)) == address


@PROPERTIES
@given(st.text(max_size=120))
def test_it_parses_any_text_or_says_why(text):
    for parse in (parse_standard_address, parse_seven_segment):
        try:
            parse(text)
        except AddressError as error:
            assert str(error)


@PROPERTIES
@given(st.dictionaries(st.sampled_from(["name", "id_card", "phone", "sex", "person_type", "address", "valid_from",
                                        "valid_until"]), ANY_VALUE))
def test_it_checks_any_person_without_raising(raw):
    community = CommunityFactory.build(street="观音桥55号")
    if isinstance(raw.get("valid_from"), float | int | str | bool) or isinstance(raw.get("valid_until"),
                                                                                 float | int | str | bool):
        # Validity comes from the callers as datetimes or None (apply-access and Excel parse their own formats).
        raw.pop("valid_from", None), raw.pop("valid_until", None)
    person, problems = check_person(community, raw)
    assert (person is None) == bool(problems)
    assert all(p.field and p.message for p in problems)


@PROPERTIES
@given(name=st.text(alphabet=NAME_CHARS + "张王李赵", min_size=1, max_size=20), id_card=id_cards(), phone=mobiles,
       sex=st.sampled_from([0, 1, 2, "0", "1", "2", "男", "女"]), person_type=st.sampled_from(["01", "02", "03", "04", "05", 1, 5]),
       building=segments, unit=segments, floor=segments, room=segments,
       validity=st.one_of(st.none(), st.tuples(st.datetimes(), st.timedeltas(dt.timedelta(0), dt.timedelta(days=400)))))
def test_it_accepts_every_valid_person(name, id_card, phone, sex, person_type, building, unit, floor, room, validity):
    community = CommunityFactory.build(street="观音桥55号")
    address = format_seven_segment(community.standard_address, building, unit, floor, room)
    valid_from, valid_until = (validity[0], validity[0] + validity[1]) if validity else (None, None)
    person, problems = check_person(community, {"name": name, "id_card": id_card, "phone": phone, "sex": sex,
                                                "person_type": person_type, "address": address,
                                                "valid_from": valid_from, "valid_until": valid_until})
    assert problems == []
    assert person.id_card == id_card and person.person_type in {"01", "02", "03", "04", "05"}


# --- Hostile text: lone surrogates, control characters, every Unicode digit and space form, nesting depth ---

EVERY_DIGIT = [chr(c) for c in range(0x110000) if chr(c).isdigit() and not chr(c).isascii()]
EVERY_SPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
HOSTILE_CHARS = ["\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u061c",
                 "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029", "\ufeff", "\ufffd"]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_CHARS), st.sampled_from(EVERY_DIGIT),
                                  st.sampled_from(EVERY_SPACE), st.characters(), st.sampled_from("张三0123456789Xx-")),
                        max_size=24).map("".join)
PERSON_FIELDS = ["name", "id_card", "phone", "sex", "person_type", "address"]


@PROPERTIES
@given(hostile_text)
def test_it_answers_any_hostile_text_and_what_it_accepts_can_be_stored(text):
    from afxq_portal.text import line_problem, scrub, text_problem

    problem, line = text_problem(text), line_problem(text)
    assert problem is None or problem.isprintable()
    if line is None:
        assert problem is None
        text.encode("utf-8")
        assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or unicodedata.bidirectional(ch) in
                       ("LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI") or ch in "\u061c\u200e\u200f"
                       for ch in text)
    if problem is None:
        text.encode("utf-8")
    scrub(text).encode("utf-8")
    assert text_problem(scrub(text)) is None


@PROPERTIES
@given(st.text(alphabet=st.sampled_from([*EVERY_DIGIT, *"0123456789"]), min_size=1, max_size=4))
def test_it_reads_only_ascii_digits_whatever_digit_form(text):
    from afxq_portal.text import ascii_digits

    assert ascii_digits(text) == all(ch in "0123456789" for ch in text)


@PROPERTIES
@given(st.dictionaries(st.sampled_from(PERSON_FIELDS), hostile_text, min_size=1))
def test_it_checks_a_person_with_hostile_text_without_raising_and_keeps_only_storable_text(raw):
    from afxq_portal.text import line_problem

    community = CommunityFactory.build(street="观音桥55号")
    person, problems = check_person(community, raw)
    assert (person is None) == bool(problems)
    assert all(p.message.encode("utf-8") for p in problems)
    if person is not None:
        assert line_problem(person.name) is None and line_problem(person.address) is None


@PROPERTIES
@given(st.integers(0, 20_000), st.sampled_from(["[", "{\"a\":"]))
def test_it_parses_json_of_any_nesting_depth_or_says_it_is_too_deep(levels, opener):
    from afxq_portal import jsonbody

    closer = "]" if opener == "[" else "}"
    text = opener * levels + "1" + closer * levels
    try:
        value = jsonbody.loads(text)
    except jsonbody.TooDeep:
        assert levels > jsonbody.MAX_DEPTH
    else:
        assert levels <= jsonbody.MAX_DEPTH and jsonbody.depth(value) == levels
