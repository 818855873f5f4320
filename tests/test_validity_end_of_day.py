"""An end of validity entered as a day means the END of that day in Asia/Shanghai (issue 14): until
2027-06-30 includes the 30th, whether the day came from an Excel cell or the admin form."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from django.urls import reverse
from openpyxl.utils.datetime import to_excel

from residents.excel.importer import run_import
from residents.models import Resident
from residents.validation import validity_end
from tests.admin_forms import admin_post_data
from tests.excel_books import HEADER, Num, Sheet, write_xlsx
from tests.factories import BuildingFactory, ResidentFactory, RoomFactory, make_id_card

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
END_OF_30TH = dt.datetime(2027, 6, 30, 23, 59, 59, tzinfo=SHANGHAI)


def test_it_reads_a_day_as_the_end_of_that_day_in_shanghai(settings):
    settings.TIME_ZONE = "UTC"  # the server's zone does not matter: the community's days are Shanghai's
    assert validity_end(dt.date(2027, 6, 30)) == END_OF_30TH
    assert validity_end(dt.datetime(2027, 6, 30)) == END_OF_30TH
    assert validity_end(dt.datetime(2027, 6, 30, tzinfo=SHANGHAI)) == END_OF_30TH
    assert validity_end(dt.datetime(2027, 6, 29, 16, tzinfo=dt.UTC)) == END_OF_30TH  # 00:00 in Shanghai
    afternoon = dt.datetime(2027, 6, 30, 18, 0, tzinfo=SHANGHAI)
    assert validity_end(afternoon) == afternoon  # a moment with a time is kept
    assert validity_end(None) is None


@pytest.mark.django_db
def test_it_imports_an_end_day_as_the_end_of_that_day(community_a, tmp_path: Path):
    building = BuildingFactory(community=community_a, number="1")
    RoomFactory(building=building, unit="1", floor="3", number="01")

    def row(serial: int, until: object) -> list:
        return [f"居民{serial}", make_id_card(serial), f"138{serial:08d}", "男", "住户", "1", "1", "3", "01", None,
                "2026-01-01", until, None]

    book = write_xlsx(tmp_path / "days.xlsx", [Sheet("人员信息", [
        HEADER, row(1, "2027-06-30"), row(2, Num(str(int(to_excel(dt.datetime(2027, 6, 30)))))),
        row(3, "2027年06月30日"), row(4, "2027-06-30 18:00")])])
    summary = run_import(book, community_a, commit=True)
    assert summary.written == 4, summary
    until = {r.id_card: r.valid_until for r in Resident.objects.all()}
    for serial in (1, 2, 3):
        assert until[make_id_card(serial)] == END_OF_30TH, serial
    assert until[make_id_card(4)] == dt.datetime(2027, 6, 30, 18, 0, tzinfo=SHANGHAI)
    person = Resident.objects.get(id_card_hash=Resident.objects.get(name="居民1").id_card_hash)
    assert person.is_valid_at(dt.datetime(2027, 6, 30, 22, 0, tzinfo=SHANGHAI))
    assert not person.is_valid_at(dt.datetime(2027, 7, 1, 0, 0, 1, tzinfo=SHANGHAI))


def test_it_saves_an_end_day_from_the_admin_form_as_the_end_of_that_day(client, alice, community_a):
    resident = ResidentFactory(community=community_a, valid_until=None)
    url = reverse("admin:residents_resident_change", args=[resident.pk])
    client.force_login(alice)
    for date_text, time_text in (("2027-06-30", ""), ("2027-06-30", "00:00:00")):
        data = admin_post_data(client.get(url))
        data.update({"valid_until_0": date_text, "valid_until_1": time_text})
        response = client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        resident.refresh_from_db()
        assert resident.valid_until == END_OF_30TH
    data = admin_post_data(client.get(url))  # saved again as shown: unchanged
    assert (str(data["valid_until_0"]), str(data["valid_until_1"])) == ("2027-06-30", "23:59:59")
    assert client.post(url, data).status_code == 302
    resident.refresh_from_db()
    assert resident.valid_until == END_OF_30TH
    data.update({"valid_until_0": "2027-06-30", "valid_until_1": "18:00:00"})
    client.post(url, data)
    resident.refresh_from_db()
    assert resident.valid_until == dt.datetime(2027, 6, 30, 18, tzinfo=SHANGHAI)
    data.update({"valid_until_0": "", "valid_until_1": ""})
    client.post(url, data)
    resident.refresh_from_db()
    assert resident.valid_until is None
