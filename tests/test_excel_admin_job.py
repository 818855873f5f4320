"""The admin's Excel pages with a real Celery worker: upload, dry run, confirm, progress, cancel,
result download; and tenancy (Charlie of community B sees nothing of community A)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from residents.models import ImportJob, Resident
from tests.excel_books import HEADER
from tests.factories import BuildingFactory, RoomFactory, make_id_card


@pytest.fixture
def rooms(community_a):
    building = BuildingFactory(community=community_a, number="1")
    return [RoomFactory(building=building, unit="1", floor="3", number=f"0{n}") for n in range(1, 4)]


def people_book(path: Path, count: int, *, bad_every: int = 0) -> Path:
    """A workbook as openpyxl's write-only mode writes it (shared strings), ``count`` people."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("人员信息")
    sheet.append(HEADER)
    for n in range(count):
        phone = "123" if bad_every and n % bad_every == 0 else f"139{n:08d}"
        sheet.append([f"居民{n}", make_id_card(n, birth=f"19{50 + n // 1000 % 50:02d}0101"), phone, "男", "住户",
                      "1", "1", "3", f"0{1 + n % 3}"])
    book.save(path)
    return path


def wait_for(client, job: ImportJob, statuses: set[str], timeout: float = 90) -> dict:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = client.get(reverse("admin:residents_importjob_progress", args=[job.pk])).json()
        seen.append(progress["rows_done"])
        if progress["status"] in statuses:
            progress["seen"] = seen
            return progress
        time.sleep(0.2)
    raise AssertionError(f"job stayed {progress['status']}: {progress}")


def upload(client, community, path: Path, **extra) -> ImportJob:
    response = client.post(reverse("admin:residents_importjob_upload"), {
        "community": community.pk, "file": SimpleUploadedFile(path.name, path.read_bytes()), **extra})
    assert response.status_code == 302, response.content.decode()[-2000:]
    return ImportJob.objects.latest("pk")


def test_it_checks_then_writes_after_confirmation(client, alice, community_a, rooms, celery_worker,
                                                  tmp_path: Path) -> None:
    client.force_login(alice)
    job = upload(client, community_a, people_book(tmp_path / "people.xlsx", 1200, bad_every=100))
    # Kept outside MEDIA_ROOT (published by the development server): it holds ID numbers in clear.
    assert Path(job.file.path).is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT))
    assert not Path(job.file.path).is_relative_to(Path(settings.MEDIA_ROOT))
    checked = wait_for(client, job, {"checked", "failed"})
    assert checked["status"] == "checked", checked
    assert (checked["rows_total"], checked["rows_done"], checked["rows_refused"]) == (1200, 1200, 12)
    assert not Resident.objects.exists()  # the dry run writes nothing

    page = client.get(reverse("admin:residents_importjob_change", args=[job.pk])).content.decode()
    assert 'id="confirm-import"' in page and 'id="problems"' in page and "手机号" in page

    result = client.get(reverse("admin:residents_importjob_result", args=[job.pk]))
    rows = list(openpyxl.load_workbook(io.BytesIO(b"".join(result.streaming_content))).active.iter_rows(values_only=True))
    assert rows[0][-1] == "检查结果" and len(rows) == 1201 and rows[1][-1] != rows[2][-1]

    assert client.post(reverse("admin:residents_importjob_confirm", args=[job.pk])).status_code == 302
    done = wait_for(client, job, {"done", "failed"})
    assert done["status"] == "done" and done["rows_written"] == 1188
    job.refresh_from_db()
    assert job.confirmed_by == alice and job.write_seconds is not None
    assert Resident.objects.filter(community=community_a).count() == 1188
    assert Resident.objects.filter(init_uuid__isnull=True).count() == 0
    assert Resident.objects.first().changes.get().actor == alice
    # Confirming twice does nothing.
    client.post(reverse("admin:residents_importjob_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "done"


def test_it_cancels_a_running_check(client, alice, community_a, rooms, celery_worker, tmp_path: Path) -> None:
    client.force_login(alice)
    job = upload(client, community_a, people_book(tmp_path / "big.xlsx", 40000))
    deadline = time.monotonic() + 60
    while ImportJob.objects.get(pk=job.pk).rows_done == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    client.post(reverse("admin:residents_importjob_cancel", args=[job.pk]))
    cancelled = wait_for(client, job, {"cancelled", "checked"})
    assert cancelled["status"] == "cancelled" and cancelled["rows_done"] < 40000
    assert not Resident.objects.exists()


@pytest.mark.django_db
def test_it_scopes_every_page_to_the_users_communities(client, alice, charlie, community_a, community_b,
                                                       tmp_path: Path) -> None:
    client.force_login(alice)
    job = upload(client, community_a, people_book(tmp_path / "a.xlsx", 3))
    client.force_login(charlie)
    for name in ("change", "progress", "result"):
        assert client.get(reverse(f"admin:residents_importjob_{name}", args=[job.pk])).status_code in (404, 302)
    assert client.post(reverse("admin:residents_importjob_cancel", args=[job.pk])).status_code == 404
    assert client.get(reverse("admin:residents_importjob_template", args=[community_a.pk])).status_code == 404
    assert client.get(reverse("admin:residents_importjob_export", args=["residents", community_a.pk])).status_code == 404
    template = client.get(reverse("admin:residents_importjob_template", args=[community_b.pk]))
    template.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
    assert template.status_code == 200
    assert job.original_name not in client.get(reverse("admin:residents_importjob_changelist")).content.decode()
    form_page = client.get(reverse("admin:residents_importjob_upload")).content.decode()
    assert community_b.name in form_page and community_a.name not in form_page
    refused = client.post(reverse("admin:residents_importjob_upload"), {
        "community": community_a.pk, "file": SimpleUploadedFile("a.xlsx", (tmp_path / "a.xlsx").read_bytes())})
    assert refused.status_code == 200 and ImportJob.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_xls_and_csv_uploads_with_a_message(client, alice, community_a) -> None:
    client.force_login(alice)
    for name in ("people.xls", "people.csv"):
        response = client.post(reverse("admin:residents_importjob_upload"), {
            "community": community_a.pk, "file": SimpleUploadedFile(name, b"a,b\n1,2\n")}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200 and ".xlsx" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_it_offers_templates_and_exports_per_community(client, alice, community_a) -> None:
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="export_init_package"))
    client.force_login(alice)
    page = client.get(reverse("admin:residents_importjob_exports")).content.decode()
    assert f'id="export-package-{community_a.pk}"' in page
    response = client.get(reverse("admin:residents_importjob_export", args=["package", community_a.pk]))
    response.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client.get(reverse("admin:residents_importjob_export", args=["nope", community_a.pk])).status_code == 403


@pytest.mark.django_db
def test_it_exports_pass_records_of_the_dates_asked(client, alice, community_a) -> None:
    from residents.models import ExportLog

    client.force_login(alice)
    page = client.get(reverse("admin:residents_importjob_exports")).content.decode()
    assert 'name="from"' in page
    url = reverse("admin:residents_importjob_export", args=["pass_records", community_a.pk])
    response = client.get(url, {"from": "2026-11-01", "to": "2026-11-03"})
    response.getvalue()  # read to the end: the test client then closes the file, as a WSGI server would
    assert response.status_code == 200
    assert ExportLog.objects.get().kind == "pass 20261101-20261103"


@pytest.mark.django_db
def test_it_cancels_a_job_whose_worker_died(client, alice, community_a, tmp_path: Path) -> None:
    import datetime as dt

    from django.utils import timezone

    client.force_login(alice)
    job = upload(client, community_a, people_book(tmp_path / "a.xlsx", 3))
    # Claimed by a worker that then died: "checking", no progress for 11 minutes.
    ImportJob.objects.filter(pk=job.pk).update(status="checking",
                                               updated_at=timezone.now() - dt.timedelta(minutes=11))
    client.post(reverse("admin:residents_importjob_cancel", args=[job.pk]))
    assert ImportJob.objects.get(pk=job.pk).status == "cancelled"

    fresh = upload(client, community_a, people_book(tmp_path / "b.xlsx", 3))
    ImportJob.objects.filter(pk=fresh.pk).update(status="checking")
    client.post(reverse("admin:residents_importjob_cancel", args=[fresh.pk]))
    fresh.refresh_from_db()
    assert fresh.status == "checking" and fresh.cancel_requested  # the live worker stops it at its next report


@pytest.mark.django_db
def test_it_imports_point_names_from_the_admin_page(client, alice, community_a, community_b, tmp_path: Path) -> None:
    from tests.excel_books import Sheet, write_xlsx
    from tests.factories import PointFactory

    PointFactory(community=community_a, police_point_id="PP-1", number="东门", provincial_name="")
    PointFactory(community=community_b, police_point_id="PP-B", number="北门", provincial_name="")
    book = write_xlsx(tmp_path / "points.xlsx", [Sheet("Sheet1", [["policePointId", "省厅点位名称"], ["PP-1", "东门"],
                                                                 ["PP-B", "北门"]])])
    client.force_login(alice)
    response = client.post(reverse("admin:residents_importjob_points"), {
        "community": community_a.pk, "file": SimpleUploadedFile("points.xlsx", book.read_bytes())})
    page = response.content.decode()
    assert 'id="points-updated"' in page and 'id="points-all-match"' in page
    assert 'id="points-unknown"' in page and "PP-B" in page  # community B's point is not touched
    from communities.models import MonitoringPoint

    assert MonitoringPoint.objects.get(police_point_id="PP-B").provincial_name == ""
    refused = client.post(reverse("admin:residents_importjob_points"), {
        "community": community_b.pk, "file": SimpleUploadedFile("points.xlsx", book.read_bytes())})
    assert refused.status_code == 200 and 'id="points-updated"' not in refused.content.decode()


@pytest.mark.django_db
def test_it_deletes_import_files_after_the_retention_period(client, alice, community_a, tmp_path: Path,
                                                            settings) -> None:
    import datetime as dt

    from django.utils import timezone

    from residents.excel.tasks import purge_import_files

    client.force_login(alice)
    old = upload(client, community_a, people_book(tmp_path / "old.xlsx", 3))
    recent = upload(client, community_a, people_book(tmp_path / "recent.xlsx", 3))
    running = upload(client, community_a, people_book(tmp_path / "running.xlsx", 3))
    long_ago = timezone.now() - dt.timedelta(days=settings.EXCEL_IMPORT_RETENTION_DAYS + 1)
    ImportJob.objects.filter(pk=old.pk).update(created_at=long_ago, status="done")
    ImportJob.objects.filter(pk=running.pk).update(created_at=long_ago, status="writing")
    old_path = Path(old.file.path)
    assert old_path.is_file()
    assert purge_import_files() == 1
    assert not old_path.exists() and ImportJob.objects.get(pk=old.pk).file.name == ""
    assert Path(recent.file.path).is_file() and Path(running.file.path).is_file()
    assert ImportJob.objects.filter(pk=old.pk).exists()  # the record of the import stays


@pytest.mark.django_db
def test_it_fails_a_job_with_the_reason_when_the_file_cannot_be_read(client, alice, community_a) -> None:
    from residents.excel.tasks import run_import_job

    client.force_login(alice)
    response = client.post(reverse("admin:residents_importjob_upload"), {
        "community": community_a.pk, "file": SimpleUploadedFile("renamed.xlsx", b"\xd0\xcf\x11\xe0 an .xls inside")},
        HTTP_ACCEPT_LANGUAGE="en")
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert run_import_job(job.pk) == "failed"
    assert run_import_job(job.pk) == "not claimed"  # a task delivered twice does the work once
    job.refresh_from_db()
    assert job.status == "failed" and "not a valid .xlsx file" in job.error
    page = client.get(reverse("admin:residents_importjob_change", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert 'id="job-error"' in page.content.decode()
