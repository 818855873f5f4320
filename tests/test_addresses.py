import pytest
from django.utils import translation

from communities.addresses import AddressError, parse_seven_segment, parse_standard_address
from tests.factories import RoomFactory


def test_it_parses_the_manuals_seven_segment_address():
    address = parse_seven_segment("四川省成都市锦江区观音桥55号2栋1单元31楼06号")
    assert (address.standard.province, address.standard.city, address.standard.district) == ("四川省", "成都市", "锦江区")
    assert address.standard.street == "观音桥55号"
    assert (address.building, address.unit, address.floor, address.room) == ("2", "1", "31", "06")
    assert str(address) == "四川省成都市锦江区观音桥55号2栋1单元31楼06号"


def test_it_accepts_floor_written_as_ceng_and_full_width_digits():
    address = parse_seven_segment("四川省成都市锦江区观音桥５５号1栋1单元1层01号")
    assert address.standard.street == "观音桥55号"
    assert address.floor == "1"


def test_it_refuses_a_standard_address_where_seven_segments_are_needed():
    with translation.override("en"), pytest.raises(AddressError, match="is not a 7-segment address"):
        parse_seven_segment("四川省成都市锦江区观音桥55号")
    with translation.override("zh-hans"), pytest.raises(AddressError, match="不是七段式地址"):
        parse_seven_segment("四川省成都市锦江区观音桥55号")


def test_it_parses_a_county_level_city_as_district():
    address = parse_standard_address("四川省成都市简阳市东城路1号")
    assert (address.city, address.district, address.street) == ("成都市", "简阳市", "东城路1号")


@pytest.mark.django_db
def test_it_derives_a_rooms_seven_segment_address():
    room = RoomFactory(building__community__street="观音桥55号", building__number="2", unit="1", floor="31", number="06")
    assert room.seven_segment_address == "四川省成都市锦江区观音桥55号2栋1单元31楼06号"
    parsed = parse_seven_segment(room.seven_segment_address)
    assert (parsed.building, parsed.unit, parsed.floor, parsed.room) == ("2", "1", "31", "06")
