"""Admin pages for Excel: template download, upload, dry-run summary, progress (polled JSON),
confirm, cancel, result download, exports and the point-name import. Every page is scoped to the
communities the user manages."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from communities.admin_scope import ScopedModelAdmin, scoped_queryset
from communities.models import Community
from communities.tenancy import managed_communities
from security.services import record_event

from .exports import EXPORTS, PACKAGE_PERMISSION, export_kind_label
from .models import ExportLog, ImportJob
from .points import import_point_names
from .safety import WorkbookError, check_file_name, max_upload_bytes
from .services import cancel_import, confirm_import, start_import
from .template import build_template

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    community = forms.ModelChoiceField(label=_("community"), queryset=Community.objects.none())
    file = forms.FileField(label=_("workbook (.xlsx), or a .zip of the workbook and photos"),
                           help_text=_("Photos in the .zip are named by ID number (510104…1234.jpg) or by row "
                                       "number (5.jpg); JPEG or PNG."))
    create_rooms = forms.BooleanField(label=_("create missing rooms"), required=False,
                                      help_text=_("Rooms named in the file but not yet in the community are created "
                                                  "(marked “to confirm”). Otherwise such rows are refused."))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = managed_communities(user)

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        try:
            check_file_name(uploaded.name)
        except WorkbookError as exc:
            raise forms.ValidationError(str(exc)) from exc
        limit = max_upload_bytes(uploaded.name)
        if uploaded.size > limit:
            raise forms.ValidationError(_("The file is larger than %(n)d MB.") % {"n": limit // 2**20})
        return uploaded


class PointsForm(forms.Form):
    community = forms.ModelChoiceField(label=_("community"), queryset=Community.objects.none())
    file = forms.FileField(label=_("workbook (.xlsx) with the columns policePointId and 省厅点位名称"))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = managed_communities(user)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _download(path_or_file, filename: str) -> FileResponse:
    return FileResponse(path_or_file, as_attachment=True, filename=filename, content_type=XLSX)


@admin.register(ImportJob)
class ImportJobAdmin(ScopedModelAdmin):
    list_display = ["original_name", "community", "status", "rows_total", "rows_refused", "rows_written",
                    "created_by", "created_at"]
    list_filter = ["status", "community"]
    change_list_template = "admin/residents/excel/job_list.html"
    date_hierarchy = "created_at"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="residents_importjob_upload"),
            path("template/<int:community_id>/", wrap(self.template_view), name="residents_importjob_template"),
            path("exports/", wrap(self.exports_view), name="residents_importjob_exports"),
            path("export/<str:kind>/<int:community_id>/", wrap(self.export_view), name="residents_importjob_export"),
            path("points/", wrap(self.points_view), name="residents_importjob_points"),
            path("<int:job_id>/progress/", wrap(self.progress_view), name="residents_importjob_progress"),
            path("<int:job_id>/confirm/", wrap(require_POST(self.confirm_view)), name="residents_importjob_confirm"),
            path("<int:job_id>/cancel/", wrap(require_POST(self.cancel_view)), name="residents_importjob_cancel"),
            path("<int:job_id>/result/", wrap(self.result_view), name="residents_importjob_result"),
            *super().get_urls(),
        ]

    # --- helpers -----------------------------------------------------------------------------------

    def _job(self, request: HttpRequest, job_id: int) -> ImportJob:
        return get_object_or_404(scoped_queryset(ImportJob, request).select_related("community"), pk=job_id)

    def _community(self, request: HttpRequest, community_id: int) -> Community:
        return get_object_or_404(managed_communities(request.user), pk=community_id)

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **extra}

    # --- pages -------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        return HttpResponseRedirect(reverse("admin:residents_importjob_upload"))

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            job = start_import(form.cleaned_data["community"], form.cleaned_data["file"],
                               create_rooms=form.cleaned_data["create_rooms"], acting_user=request.user,
                               language=getattr(request, "LANGUAGE_CODE", "zh-hans"))
            return HttpResponseRedirect(reverse("admin:residents_importjob_change", args=[job.pk]))
        communities = managed_communities(request.user).order_by("name")
        return TemplateResponse(request, "admin/residents/excel/upload.html",
                                self._context(request, _("Import residents from Excel"), form=form,
                                              communities=communities))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        job = self._job(request, int(object_id))
        return TemplateResponse(request, "admin/residents/excel/job.html", self._context(
            request, str(job), job=job, summary=job.summary or {}, progress=job.progress(),
            can_confirm=job.status == ImportJob.Status.CHECKED and job.rows_accepted > 0,
            can_cancel=job.is_active or job.status == ImportJob.Status.CHECKED))

    def progress_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        return JsonResponse(self._job(request, job_id).progress())

    def confirm_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id)
        if confirm_import(job, acting_user=request.user):
            messages.success(request, _("Confirmed: the accepted rows are being written."))
        else:
            messages.error(request, _("This import is not waiting for confirmation."))
        return HttpResponseRedirect(reverse("admin:residents_importjob_change", args=[job.pk]))

    def cancel_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id)
        if cancel_import(job, acting_user=request.user):
            messages.warning(request, _("Cancelling the import."))
        return HttpResponseRedirect(reverse("admin:residents_importjob_change", args=[job.pk]))

    def result_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        job = self._job(request, job_id)
        if not job.result_file:
            raise PermissionDenied
        stem = Path(job.original_name).stem
        suffix = "导入结果" if job.status == ImportJob.Status.DONE else "检查结果"
        # The result copy holds the uploaded ID numbers and phones in clear: an export of personal data.
        record_event("export", request=request, user=request.user, community=job.community,
                     detail=f"import result of job {job.pk}")
        return _download(job.result_file.open("rb"), f"{stem}-{suffix}.xlsx")

    def template_view(self, request: HttpRequest, community_id: int) -> FileResponse:
        community = self._community(request, community_id)
        out = tempfile.TemporaryFile()
        build_template(community, out)
        out.seek(0)
        return _download(out, f"{community.name}-人员初始化模板.xlsx")

    def exports_view(self, request: HttpRequest) -> HttpResponse:
        communities = managed_communities(request.user).order_by("name")
        log = list(ExportLog.objects.filter(community__in=communities).select_related("user", "community")[:20])
        for entry in log:
            entry.kind_label = export_kind_label(entry.kind) or entry.kind
        # Who may export the package, among the people of these communities (platform administrators always).
        holders = (get_user_model()._default_manager.with_perm(PACKAGE_PERMISSION, include_superusers=False)
                   .filter(is_active=True, memberships__community__in=communities).distinct().order_by("username"))
        return TemplateResponse(request, "admin/residents/excel/exports.html", self._context(
            request, _("Excel templates and exports"), communities=communities,
            exports=[(kind, export.label, export.allowed(request.user)) for kind, export in EXPORTS.items()],
            log=log, in_clear=request.user.has_perm("residents.view_pii"),
            may_export_package=request.user.has_perm(PACKAGE_PERMISSION),
            package_holders=[user.get_username() for user in holders]))

    def export_view(self, request: HttpRequest, kind: str, community_id: int) -> FileResponse:
        community = self._community(request, community_id)
        if kind not in EXPORTS or not EXPORTS[kind].allowed(request.user):
            raise PermissionDenied
        export = EXPORTS[kind]
        out = tempfile.TemporaryFile()
        if export.dated:
            export.function(community, out, acting_user=request.user, start=_date(request.GET.get("from")),
                            end=_date(request.GET.get("to")))
        else:
            export.function(community, out, acting_user=request.user)
        out.seek(0)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return _download(out, f"{community.city_id}-{kind}-{stamp}.xlsx")

    def points_view(self, request: HttpRequest) -> HttpResponse:
        form = PointsForm(request.POST or None, request.FILES or None, user=request.user)
        result = problems = None
        if request.method == "POST" and form.is_valid():
            uploaded = form.cleaned_data["file"]
            with tempfile.NamedTemporaryFile(suffix=".xlsx") as copy:
                for chunk in uploaded.chunks():
                    copy.write(chunk)
                copy.flush()
                try:
                    check_file_name(uploaded.name)
                    result, problems = import_point_names(form.cleaned_data["community"], Path(copy.name),
                                                          name=uploaded.name)
                except WorkbookError as exc:
                    form.add_error("file", str(exc))
        return TemplateResponse(request, "admin/residents/excel/points.html", self._context(
            request, _("Import provincial point names"), form=form, result=result, problems=problems))
