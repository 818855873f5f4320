from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from communities.admin_scope import SuperuserOnlyMixin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(SuperuserOnlyMixin, admin.ModelAdmin):
    """Read-only for platform administrators: an audit log nobody can edit or delete from the admin."""

    list_display = ["at", "kind", "username", "user", "ip", "community", "path", "detail_shown"]
    exclude = ["detail"]
    readonly_fields = ["detail_shown"]
    list_filter = ["kind", ("community", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["username", "ip", "detail"]
    date_hierarchy = "at"
    list_select_related = ["user", "community"]

    @admin.display(description=_("detail"))
    def detail_shown(self, event: AuditEvent) -> str:
        return event.detail_display

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
