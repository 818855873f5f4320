"""Terminals in the admin: the list with health and how many people are on each; the change page with a test of
the connection and the people a terminal refused (with its reason, and a retry). Community-scoped."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from afxq_portal.text import TextRulesFormMixin
from communities.admin_scope import ScopedModelAdmin, ScopedTabularInline
from communities.forms import WriteOnlySecretsForm
from devices.models import Device
from residents.models import Resident

from . import health, reconcile
from .models import Terminal, TerminalMember
from .refusals import member_refusal
from .registry import create_device_for, receiver_url
from .status import people_text, with_counts

log = logging.getLogger(__name__)


def terminal_formfield(field: models.Field, **kwargs: object) -> forms.Field | None:
    # Terminals on a community's network answer plain HTTP: an address typed without a scheme is http.
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "http"
    return field.formfield(**kwargs)


class TerminalForm(TextRulesFormMixin, WriteOnlySecretsForm):
    secret_fields = ("password",)

    class Meta:
        formfield_callback = terminal_formfield
        model = Terminal
        fields = ["point", "vendor", "base_url", "username", "password", "door", "sync_enabled", "events_enabled"]


class MemberRows:
    """Rows follow the residents: staff neither add nor delete them (a retry is their one action)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("reason"))
    def reason(self, member: TerminalMember) -> str:
        return member_refusal(member)


class RefusedMemberInline(MemberRows, ScopedTabularInline):
    """The people this terminal does not hold as it should: refused (with the terminal's reason) or retrying."""

    model = TerminalMember
    verbose_name = gettext_lazy("person not yet on the terminal as they should be")
    verbose_name_plural = gettext_lazy("people not yet on the terminal as they should be")
    fields = ["employee_no", "name", "status", "reason", "attempts", "next_attempt_at"]
    readonly_fields = fields
    can_delete = False
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[TerminalMember]:
        return super().get_queryset(request).exclude(status=TerminalMember.Status.IN_SYNC)


@admin.register(Terminal)
class TerminalAdmin(ScopedModelAdmin):
    form = TerminalForm
    # (The admin builds the form fields itself; the form's callback serves other uses of TerminalForm.)
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}
    list_display = ["__str__", "point", "vendor", "online", "last_event_at", "firmware", "people"]
    list_filter = ["online", "vendor", "point__community"]
    search_fields = ["base_url", "point__number", "point__police_point_id", "serial"]
    list_select_related = ["point"]
    readonly_fields = ["people", "model", "firmware", "serial", "online", "last_probe_at", "last_contact_at",
                       "last_event_at", "offline_since", "last_error", "events_address", "event_host_url",
                       "last_serial_no", "events_checked_until", "last_resync_at"]
    fieldsets = [
        (None, {"fields": ["point", "vendor", "base_url", "username", "password", "door", "sync_enabled",
                           "events_enabled"]}),
        (gettext_lazy("health"), {"fields": ["people", "online", "model", "firmware", "serial", "last_probe_at",
                                             "last_contact_at", "offline_since", "last_error", "last_resync_at"]}),
        (gettext_lazy("events"), {"fields": ["events_address", "event_host_url", "last_event_at", "last_serial_no",
                                             "events_checked_until"]}),
    ]
    inlines = [RefusedMemberInline]
    actions = ["retry_refused", "resync"]
    change_form_template = "admin/terminals/terminal/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Terminal]:
        return with_counts(super().get_queryset(request))

    @admin.display(description=gettext_lazy("people"))
    def people(self, terminal: Terminal) -> str:
        counts = getattr(terminal, "desired_count", None)
        if counts is None:
            terminal = with_counts(Terminal.objects.filter(pk=terminal.pk)).first() or terminal
        return people_text(getattr(terminal, "held_count", 0), getattr(terminal, "desired_count", 0),
                           getattr(terminal, "refused_count", 0))

    @admin.display(description=gettext_lazy("receiver address (set on the terminal by the portal)"))
    def events_address(self, terminal: Terminal) -> str:
        return receiver_url(terminal) if terminal.event_secret else "—"

    def save_model(self, request: HttpRequest, obj: Terminal, form: forms.Form, change: bool) -> None:
        if not change:
            create_device_for(obj, acting_user=request.user)
        elif {"vendor", "base_url", "username", "password"} & set(form.changed_data):
            obj.resync_needed, obj.event_host_url = True, ""
        super().save_model(request, obj, form, change)
        reconcile.nudge([obj.pk])

    def get_urls(self) -> list:
        urls = [path("<int:object_id>/test-connection/", self.admin_site.admin_view(self.test_connection_view),
                     name="terminals_terminal_test_connection")]
        return urls + super().get_urls()

    def test_connection_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Read the terminal's model and firmware (a POST: it is a call to the terminal, and it updates its health)."""
        terminal = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, terminal):
            return HttpResponseRedirect(reverse("admin:index"))
        if request.method == "POST":
            outcome = health.probe(terminal)
            if outcome.ok:
                self.message_user(request, _("Connected: %(model)s, firmware %(firmware)s, serial number %(serial)s.")
                                  % {"model": outcome.info.model, "firmware": outcome.info.firmware,
                                     "serial": outcome.info.serial}, messages.SUCCESS)
            else:
                self.message_user(request, _("The terminal could not be reached: %(error)s") % {"error": outcome.error},
                                  messages.ERROR)
            self.log_change(request, terminal, _("Tested the connection"))
        return HttpResponseRedirect(reverse("admin:terminals_terminal_change", args=[terminal.pk]))

    @admin.action(description=gettext_lazy("Retry the people the selected terminals refused"))
    def retry_refused(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        members = TerminalMember.objects.filter(terminal__in=self.get_queryset(request) & queryset)
        count = reconcile.retry_members(members, acting_user=request.user)
        for terminal in queryset:
            self.log_change(request, terminal, _("Retried the refused people"))
        self.message_user(request, _("%(n)d people will be sent again.") % {"n": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Read again what the selected terminals hold"))
    def resync(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        terminals = self.get_queryset(request) & queryset
        ids = list(terminals.values_list("pk", flat=True))
        Terminal.objects.filter(pk__in=ids).update(resync_needed=True)
        reconcile.nudge(ids)
        for terminal in terminals:
            self.log_change(request, terminal, _("Asked to read again what it holds"))
        self.message_user(request, _("%(n)d terminals will be read again.") % {"n": len(ids)}, messages.SUCCESS)


@admin.register(TerminalMember)
class TerminalMemberAdmin(MemberRows, ScopedModelAdmin):
    """Who is (to be) on which terminal. Read-only: the rows follow the residents; staff retry a refusal."""

    list_display = ["employee_no", "name", "terminal", "present", "status", "reason", "attempts", "updated_at"]
    list_filter = ["status", "present", "terminal__point__community"]
    search_fields = ["employee_no", "name"]
    list_select_related = ["terminal__point"]
    fields = ["terminal", "resident_id", "employee_no", "present", "name", "valid_from", "valid_to",
              "seen_present", "seen_name", "seen_valid_from", "seen_valid_to", "status", "reason", "attempts",
              "next_attempt_at", "updated_at"]
    readonly_fields = fields
    actions = ["retry"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send the selected people again"))
    def retry(self, request: HttpRequest, queryset: QuerySet[TerminalMember]) -> None:
        members = self.get_queryset(request) & queryset
        terminals = {m.terminal for m in members.select_related("terminal__point")}
        count = reconcile.retry_members(members, acting_user=request.user)
        for terminal in terminals:
            self.log_change(request, terminal, _("Retried the refused people"))
        self.message_user(request, _("%(n)d people will be sent again.") % {"n": count}, messages.SUCCESS)


@admin.display(description=gettext_lazy("face terminals"))
def terminal_status(model_admin: admin.ModelAdmin, resident: Resident) -> str:
    """On a resident's page: each terminal of theirs and where they stand on it (with the refusal's reason)."""
    members = TerminalMember.objects.filter(resident_id=resident.pk).select_related("terminal__point")
    lines = [f"{m.terminal.point.number}：{m.get_status_display()}"
             + (f"（{member_refusal(m)}）" if m.status != TerminalMember.Status.IN_SYNC and m.refusal_reason else "")
             for m in members if m.present or m.seen_present]
    return "；".join(lines) or "—"


def show_terminals_on_residents(site: admin.AdminSite) -> None:
    """residents may not import terminals: the resident's page gets its terminal status from here, as a read-only
    field added to the registered ResidentAdmin (autodiscovery imports residents' admin before this one)."""
    resident_admin = site._registry.get(Resident)
    if resident_admin is None or "terminal_status" in resident_admin.readonly_fields:
        return
    type(resident_admin).terminal_status = terminal_status
    type(resident_admin).readonly_fields = [*resident_admin.readonly_fields, "terminal_status"]


@admin.display(description=gettext_lazy("face terminal"))
def terminal_health(model_admin: admin.ModelAdmin, device: Device) -> str:
    """On the device list: a terminal's device shows whether it is online, its firmware and its last event."""
    terminal = getattr(device, "terminal", None)
    if terminal is None:
        return "—"
    state = _("online") if terminal.online else _("offline")
    last = (timezone.localtime(terminal.last_event_at).strftime("%Y-%m-%d %H:%M") if terminal.last_event_at
            else _("no event yet"))
    return f"{state} · {terminal.firmware or '—'} · {last}"


def show_terminals_on_devices(site: admin.AdminSite) -> None:
    """devices may not import terminals: the device list gets the terminals' health from here."""
    device_admin = site._registry.get(Device)
    if device_admin is None or "terminal_health" in device_admin.list_display:
        return
    cls = type(device_admin)
    cls.terminal_health = terminal_health
    cls.list_display = [*device_admin.list_display, "terminal_health"]
    cls.list_select_related = [*(device_admin.list_select_related or []), "terminal"]


show_terminals_on_residents(admin.site)
show_terminals_on_devices(admin.site)
