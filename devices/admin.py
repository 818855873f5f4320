from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from communities.admin_scope import ScopedModelAdmin

from .keys import issue_device_key, reissue_device_key, revoke_device_key
from .models import Device, DeviceEvent


@admin.register(Device)
class DeviceAdmin(ScopedModelAdmin):
    """Devices and their keys. A key is shown once, on the page that follows its creation, and never
    again: it is stored only as a hash. Lost keys are replaced (reissued), not recovered."""

    list_display = ["__str__", "point", "key_prefix", "key_state", "last_seen_at", "last_seen_ip",
                    "accepted_count", "refused_count"]
    list_filter = ["point__kind", "point__community"]
    search_fields = ["name", "key_prefix", "point__number", "point__police_point_id"]
    fields = ["point", "name", "key_prefix", "issued_by", "created_at", "revoked_at", "revoked_by",
              "last_seen_at", "last_seen_ip", "accepted_count", "refused_count", "last_refusal"]
    readonly_fields = ["key_prefix", "issued_by", "created_at", "revoked_at", "revoked_by", "last_seen_at",
                       "last_seen_ip", "accepted_count", "refused_count", "last_refusal"]
    actions = ["revoke_keys", "reissue_keys"]

    @admin.display(description=_("key"))
    def key_state(self, device: Device) -> str:
        return str(_("revoked")) if device.is_revoked else str(_("active"))

    def save_model(self, request: HttpRequest, obj: Device, form: forms.Form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        device, key = issue_device_key(point=obj.point, name=obj.name, acting_user=request.user)
        obj.pk, obj._state.adding = device.pk, False
        obj.refresh_from_db()
        request._issued_device_keys = [(device, key)]

    def response_add(self, request: HttpRequest, obj: Device, post_url_continue: str | None = None) -> HttpResponse:
        issued = getattr(request, "_issued_device_keys", None)
        if issued:
            return self.show_keys(request, issued)
        return super().response_add(request, obj, post_url_continue)

    def show_keys(self, request: HttpRequest, issued: list[tuple[Device, str]]) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "issued": issued,
                   "title": _("Device keys: copy them now")}
        response = render(request, "admin/devices/device/keys_issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the keys of the selected devices"))
    def revoke_keys(self, request: HttpRequest, queryset) -> None:
        for device in queryset:
            revoke_device_key(device, acting_user=request.user)
        messages.success(request, _("%(n)d keys revoked.") % {"n": queryset.count()})

    @admin.action(description=_("Issue new keys for the selected devices (the old keys stop working)"))
    def reissue_keys(self, request: HttpRequest, queryset) -> HttpResponse:
        issued = [(device, reissue_device_key(device, acting_user=request.user)) for device in queryset]
        return self.show_keys(request, issued)


@admin.register(DeviceEvent)
class DeviceEventAdmin(ScopedModelAdmin):
    """What devices sent and we accepted, with the state of its outbox row. Read-only: an event is a
    record of what happened."""

    list_display = ["id", "kind", "occurred_at", "received_at", "point", "device", "direction", "plate",
                    "outbox_status"]
    list_filter = ["kind", "community"]
    search_fields = ["=id", "=device_event_id", "plate", "point__number", "point__police_point_id"]
    list_select_related = ["point", "device__point", "outbox_record"]
    date_hierarchy = "received_at"

    @admin.display(description=_("outbox"))
    def outbox_status(self, event: DeviceEvent) -> str:
        return event.outbox_record.get_status_display() if event.outbox_record else "—"

    def has_add_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False
