from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from afxq_portal.pii import mask_text
from afxq_portal.text import TextRulesFormMixin
from communities import tenancy
from communities.admin_scope import ScopedModelAdmin

from . import holdback, monitoring, outbox
from .models import LinkState, OutboxRecord, UploadBatch

log = logging.getLogger(__name__)


class DiscardForm(TextRulesFormMixin, forms.Form):
    line_fields = ("reason",)
    reason = forms.CharField(label=gettext_lazy("Reason for discarding"), max_length=300)


@admin.register(OutboxRecord)
class OutboxRecordAdmin(ScopedModelAdmin):
    list_display = ["id", "community", "endpoint", "status", "attempts", "next_attempt_at", "short_error",
                    "created_at", "sent_at"]
    list_filter = ["status", "endpoint", "community"]
    # `fields` may carry an ID number (image/people idNumber): shown masked, never raw.
    # The city's error may echo a record's fields: masked as well.
    exclude = ["fields", "sealed", "images", "last_error"]
    readonly_fields = ["held_back", "masked_fields", "image_paths", "masked_error",
                       *[f.name for f in OutboxRecord._meta.fields if f.name not in ("fields", "sealed", "images", "last_error")]]
    actions = ["retry_dead_letters", "discard_records"]
    change_list_template = "admin/uploads/outboxrecord/change_list.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only rows; the only changes are the bulk actions below

    def has_delete_permission(self, request, obj=None) -> bool:
        # What the city is owed is never deleted by hand (retention deletes it); unsent rows are discarded.
        return False

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.display(description=gettext_lazy("last error"))
    def short_error(self, record: OutboxRecord) -> str:
        return mask_text(record.last_error[:120])

    @admin.display(description=gettext_lazy("held back because"))
    def held_back(self, record: OutboxRecord) -> str:
        return holdback.held_back_reason(record) or "—"

    @admin.display(description=gettext_lazy("fields"))
    def masked_fields(self, record: OutboxRecord) -> str:
        return mask_text(json.dumps(record.all_fields, ensure_ascii=False, indent=1))

    @admin.display(description=gettext_lazy("last error"))
    def masked_error(self, record: OutboxRecord) -> str:
        return mask_text(record.last_error)

    @admin.display(description=gettext_lazy("images"))
    def image_paths(self, record: OutboxRecord) -> str:
        return ", ".join(f"{k}: {v}" for k, v in record.images.items())

    @admin.action(description=gettext_lazy("Retry the selected dead letters"))
    def retry_dead_letters(self, request: HttpRequest, queryset: QuerySet[OutboxRecord]) -> None:
        count = outbox.retry_dead(self.get_queryset(request) & queryset, acting_user=request.user)
        self.message_user(request, _("%(n)d dead letters are back in the queue.") % {"n": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Discard the selected unsent records (reason required)"),
                  permissions=["discard"])
    def discard_records(self, request: HttpRequest, queryset: QuerySet[OutboxRecord]) -> HttpResponse | None:
        queryset = self.get_queryset(request) & queryset
        form = DiscardForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            count = outbox.discard_outbox_records(queryset, reason=form.cleaned_data["reason"],
                                                  acting_user=request.user)
            self.message_user(request, _("%(n)d records discarded: they will not be sent to the city.") % {"n": count},
                              messages.SUCCESS)
            skipped = queryset.count() - count
            if skipped:
                self.message_user(request, _("%(n)d records were sent, being sent or already discarded and were "
                                             "left alone.") % {"n": skipped}, messages.WARNING)
            return None
        return render(request, "admin/uploads/outboxrecord/discard.html", {
            **self._context(request, _("Discard outbox records")), "form": form, "records": queryset,
            "unsent": queryset.filter(status__in=outbox.DISCARDABLE).count(),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME})

    # --- link monitoring -------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("link/", wrap(self.link_overview_view), name="uploads_link_overview"),
            path("link/<int:community_id>/", wrap(self.link_detail_view), name="uploads_link_detail"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title}

    def link_overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_use_admin(request):
            raise PermissionDenied
        links = monitoring.links(tenancy.managed_communities(request.user))
        return render(request, "admin/uploads/link_overview.html",
                      {**self._context(request, _("Link to the city platform")), "links": links})

    def link_detail_view(self, request: HttpRequest, community_id: int) -> HttpResponse:
        community = tenancy.managed_communities(request.user).filter(pk=community_id).first()
        if community is None:
            raise Http404
        if request.method == "POST" and request.POST.get("action") == "resume":
            outbox.resume_uploads(community, acting_user=request.user)
            self.message_user(request, _("Uploads of %(name)s resume.") % {"name": community.name}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:uploads_link_detail", args=[community.pk]))
        link = monitoring.links(type(community).objects.filter(pk=community.pk))[0]
        dead_url = reverse("admin:uploads_outboxrecord_changelist") + \
            f"?status__exact=dead&community__id__exact={community.pk}"
        return render(request, "admin/uploads/link_detail.html", {
            **self._context(request, _("Link to the city platform: %(name)s") % {"name": community.name}),
            "link": link, "dead_url": dead_url})


@admin.register(UploadBatch)
class UploadBatchAdmin(ScopedModelAdmin):
    list_display = ["id", "community", "endpoint", "record_count", "body_bytes", "http_status", "response_code",
                    "started_at", "finished_at", "worker"]
    list_filter = ["endpoint", "response_code", "community"]
    exclude = ["error"]
    readonly_fields = ["masked_error", *[f.name for f in UploadBatch._meta.fields if f.name != "error"]]

    @admin.display(description=gettext_lazy("error"))
    def masked_error(self, batch: UploadBatch) -> str:
        return mask_text(batch.error)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was sent to the city: retention deletes it, nobody else


@admin.register(LinkState)
class LinkStateAdmin(ScopedModelAdmin):
    list_select_related = ["community"]
    list_display = ["community", "state_flag", "down_since", "last_success_at", "last_error_at", "alerts_sent"]
    fields = ["community", "state_flag", "alert_state", "down_since", "last_success_at", "masked_error", "last_error_at",
              "alerts_sent"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("last error"))
    def masked_error(self, state: LinkState) -> str:
        return mask_text(state.last_error)

    @admin.display(description=gettext_lazy("state"))
    def state_flag(self, state: LinkState) -> str:
        # monitoring.link_state's answer (as on the link page), not alert_state: that one only says
        # whether support was told of an incident.
        health = getattr(state, "health", None) or monitoring.link_of(state.community).health
        url = reverse("admin:uploads_link_detail", args=[state.community_id])
        return format_html('<a class="{} link-state" data-state="{}" href="{}">{}</a>', health.css, health.value,
                           url, health.label)

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluated once: the template iterates the same cached rows
        found = monitoring.health_by_community([state.community for state in page])
        for state in page:
            state.health = found.get(state.community_id)
        return changelist

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the link's token, lock and alert state: deleting it would lose them
