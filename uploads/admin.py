from __future__ import annotations

from django.contrib import admin

from communities.admin_scope import ScopedModelAdmin

from .models import OutboxRecord, UploadBatch


@admin.register(OutboxRecord)
class OutboxRecordAdmin(ScopedModelAdmin):
    list_display = ["id", "community", "endpoint", "status", "attempts", "next_attempt_at", "created_at", "sent_at"]
    list_filter = ["status", "endpoint", "community"]
    readonly_fields = [f.name for f in OutboxRecord._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(UploadBatch)
class UploadBatchAdmin(ScopedModelAdmin):
    list_display = ["id", "community", "endpoint", "record_count", "http_status", "response_code", "started_at"]
    list_filter = ["endpoint", "response_code", "community"]
    readonly_fields = [f.name for f in UploadBatch._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False
