from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from communities.admin_scope import ScopedModelAdmin
from communities.models import MonitoringPoint
from residents.models import Resident

from .ingest import POINT_KIND
from .keys import issue_device_key, reissue_device_key, revoke_device_key
from .models import Device, DeviceEvent, RefusedEvent

# The URL names of the API a device uses, with what they are for: devices/urls.py.
ENDPOINTS = [("pass-events", DeviceEvent.Kind.PASS.label), ("face-snapshots", DeviceEvent.Kind.FACE.label),
             ("car-snapshots", DeviceEvent.Kind.CAR.label), ("faces", _("face list (read by face panels)"))]
URL_KIND = {"pass-events": DeviceEvent.Kind.PASS, "face-snapshots": DeviceEvent.Kind.FACE,
            "car-snapshots": DeviceEvent.Kind.CAR}


def endpoints_of(request: HttpRequest, device: Device) -> list[tuple[str, str, str]]:
    """(label, absolute URL, URL name) of each endpoint this device may use: the events of its point's kind,
    and the face list for a face panel. Absolute, as they are typed into the device's configuration."""
    found = []
    for name, label in ENDPOINTS:
        kind = URL_KIND.get(name)
        usable = (POINT_KIND[kind] == device.point.kind if kind is not None
                  else device.point.kind == MonitoringPoint.Kind.FACE_PANEL)
        if usable:
            found.append((str(label), request.build_absolute_uri(reverse(f"devices:{name}")), name))
    return found


def endpoints_html(request: HttpRequest, device: Device) -> SafeString:
    return render_to_string("admin/devices/device/endpoints.html",
                            {"endpoints": endpoints_of(request, device), "prefix": device.pk}, request=request)


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

    class Media:
        js = ["devices/copy.js"]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        # The addresses the device posts to, under the form (change_form.html): absolute, from this request.
        device = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if device is not None:
            extra["device_endpoints"] = endpoints_html(request, device)
        return super().change_view(request, object_id, form_url, extra)

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
        issued_endpoints = [(device, key, endpoints_html(request, device)) for device, key in issued]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "issued": issued_endpoints,
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


class PersonChangeList(ChangeList):
    """The events' page with each event's resident name, from one query for the page: resident_id is a plain
    id (the event outlives the person), so list_select_related cannot join it."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        ids = {e.resident_id for e in self.result_list if e.resident_id is not None}
        names = dict(Resident.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
        for event in self.result_list:
            event.resident_name = names.get(event.resident_id, "")


@admin.register(DeviceEvent)
class DeviceEventAdmin(ScopedModelAdmin):
    """What devices sent and we accepted, with the state of its outbox row. Read-only: an event is a
    record of what happened."""

    list_display = ["id", "kind", "occurred_at", "received_at", "point", "device", "person", "direction", "plate",
                    "outbox_status"]
    list_filter = ["kind", "community"]
    search_fields = ["=id", "=device_event_id", "plate", "point__number", "point__police_point_id"]
    list_select_related = ["point", "device__point", "outbox_record"]
    date_hierarchy = "received_at"

    def get_changelist(self, request: HttpRequest, **kwargs: object) -> type[ChangeList]:
        return PersonChangeList

    @admin.display(description=_("person"))
    def person(self, event: DeviceEvent) -> str:
        # Looked up for the whole page by PersonChangeList (resident_id is a plain id, not a foreign key).
        return getattr(event, "resident_name", None) or "—"

    @admin.display(description=_("outbox"))
    def outbox_status(self, event: DeviceEvent) -> str:
        return event.outbox_record.get_status_display() if event.outbox_record else "—"

    def has_add_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeviceEvent | None = None) -> bool:
        return False


@admin.register(RefusedEvent)
class RefusedEventAdmin(ScopedModelAdmin):
    """The events devices sent and we refused, with the field and the reason: what to fix in a device's
    configuration. Read-only: a refusal is a record of what happened; the retention task deletes them."""

    list_display = ["received_at", "kind", "point", "device", "index", "field", "reason", "resend"]
    list_filter = ["device", "kind", "field", "resend", "community"]
    search_fields = ["=field", "reason", "point__number", "point__police_point_id"]
    list_select_related = ["point", "device__point"]
    date_hierarchy = "received_at"
    fields = ["community", "device", "point", "kind", "received_at", "index", "field", "reason", "all_refusals",
              "resend"]
    readonly_fields = fields

    @admin.display(description=_("all refusals"))
    def all_refusals(self, refused: RefusedEvent) -> str:
        return "; ".join(f"{e.get('field', '')}: {e.get('reason', '')}" for e in refused.errors or [])

    def has_add_permission(self, request: HttpRequest, obj: RefusedEvent | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RefusedEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RefusedEvent | None = None) -> bool:
        return False
