"""ID numbers travelling to the city (face snapshots) are sealed at rest and masked on every page."""

import pytest
from django.urls import reverse

from uploads.models import Endpoint
from uploads.services import enqueue_record

pytestmark = pytest.mark.django_db


def test_it_masks_a_sealed_id_number_on_the_admin_page(client, community_a, alice):
    record = enqueue_record(community=community_a, endpoint=Endpoint.FACE_SNAPSHOT, fields={
        "passType": 0, "passDate": "2026-11-25 09:00:00", "policePointId": "PP-1",
        "idNumber": "11010519491231002X", "personName": "李四"})
    client.force_login(alice)
    page = client.get(reverse("admin:uploads_outboxrecord_change", args=[record.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "11010519491231002X" not in html
    assert "1101**********002X" in html


def test_it_sends_sealed_fields_merged_back(community_a):
    from uploads.outbox import contract_fields

    record = enqueue_record(community=community_a, endpoint=Endpoint.FACE_SNAPSHOT, fields={
        "passType": 1, "passDate": "2026-11-25 09:00:00", "policePointId": "PP-1", "idNumber": "11010519491231002X"})
    record.refresh_from_db()
    assert "idNumber" not in record.fields
    assert contract_fields(record, community_a)["idNumber"] == "11010519491231002X"
