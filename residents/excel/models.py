"""The import job (the database row is the source of truth; Celery only nudges) and the export log.

Imported into ``residents.models`` so that Django finds them; app label ``residents``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from afxq_portal.storage import private_storage
from communities.models import Community


class ImportJob(models.Model):
    COMMUNITY_PATH = "community"

    class Status(models.TextChoices):
        CHECK_QUEUED = "check_queued", _("waiting to be checked")
        CHECKING = "checking", _("checking")
        CHECKED = "checked", _("checked: waiting for confirmation")
        WRITE_QUEUED = "write_queued", _("confirmed: waiting to be written")
        WRITING = "writing", _("writing")
        DONE = "done", _("imported")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    ACTIVE = (Status.CHECK_QUEUED, Status.CHECKING, Status.WRITE_QUEUED, Status.WRITING)

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="import_jobs",
                                  verbose_name=_("community"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   related_name="+", verbose_name=_("uploaded by"))
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    file = models.FileField(_("workbook"), upload_to="imports/%Y/%m/", storage=private_storage)
    original_name = models.CharField(_("file name"), max_length=200)
    create_rooms = models.BooleanField(_("create missing rooms"), default=False)
    language = models.CharField(max_length=10, default="zh-hans", editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.CHECK_QUEUED,
                              db_index=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows checked"), default=0)
    rows_refused = models.PositiveIntegerField(_("rows refused"), default=0)
    rows_accepted = models.PositiveIntegerField(_("rows accepted"), default=0)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    rooms_created = models.PositiveIntegerField(_("rooms created"), default=0)
    check_seconds = models.FloatField(_("check seconds"), null=True, blank=True)
    write_seconds = models.FloatField(_("write seconds"), null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    result_file = models.FileField(_("result workbook"), upload_to="imports/results/%Y/%m/", blank=True,
                                   storage=private_storage)
    error = models.TextField(_("error"), blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("confirmed by"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Excel import")
        verbose_name_plural = _("Excel imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def progress(self) -> dict:
        return {
            "id": self.pk, "status": self.status, "status_label": str(self.get_status_display()),
            "rows_total": self.rows_total, "rows_done": self.rows_done, "rows_refused": self.rows_refused,
            "rows_accepted": self.rows_accepted, "rows_written": self.rows_written,
            "percent": int(100 * self.rows_done / self.rows_total) if self.rows_total else 0,
            "active": self.is_active, "error": self.error, "cancel_requested": self.cancel_requested,
            "has_result": bool(self.result_file),
        }


class ExportLog(models.Model):
    """Who exported which personal data of which community, when (PIPL accountability)."""

    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("community"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             related_name="+", verbose_name=_("user"))
    at = models.DateTimeField(_("at"), auto_now_add=True)
    kind = models.CharField(_("export"), max_length=32)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    in_clear = models.BooleanField(_("ID numbers and phones in clear"), default=False)

    class Meta:
        verbose_name = _("export log entry")
        verbose_name_plural = _("export log")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.kind} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"
