from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.widgets import AdminSplitDateTime
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from afxq_portal.crypto import keyed_hash
from afxq_portal.pii import mask_id_card, mask_phone
from afxq_portal.text import TextRulesFormMixin
from afxq_portal.validators import phone_key, validate_id_card, validate_phone
from communities.addresses import parse_room_label
from communities.admin_scope import ScopedModelAdmin, ScopedTabularInline

from . import services
from .models import ApplyAccessCall, Resident, ResidentChange, ResidentProposal, phone_lookup_hash
from .validation import validity_end

_ID_LIKE = re.compile(r"^[0-9]{17}[0-9Xx]$")
# What people type for a phone: digits (full-width too), spaces, +, hyphens, brackets.
_PHONE_LIKE = re.compile(r"^[+＋]?[\d\s\-()（）]+$")


class DayOrMomentField(forms.SplitDateTimeField):
    """A date and an optional time: a date alone is a day (``validity_end`` decides what it means)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(require_all_fields=False, **kwargs)
        self.fields[1].required = False

    def compress(self, data_list: list) -> dt.date | dt.datetime | None:
        if data_list and data_list[0] and not data_list[1]:
            return data_list[0]
        return super().compress(data_list)


class ResidentForm(TextRulesFormMixin, forms.ModelForm):
    line_fields = ("name", "address")
    id_card = forms.CharField(label=_("ID card"), max_length=18, validators=[validate_id_card])
    phone = forms.CharField(label=_("phone"), max_length=20, validators=[validate_phone])
    valid_until = DayOrMomentField(label=_("valid until"), required=False, widget=AdminSplitDateTime,
                                   help_text=_("Empty: long-term. A day without a time (or 00:00) means until the "
                                               "end of that day."))

    class Meta:
        model = Resident
        fields = ["community", "name", "id_card", "phone", "sex", "person_type", "room", "address", "city_owner_id",
                  "init_uuid", "ywlsh", "source", "valid_from", "valid_until", "photo", "photo_status", "status",
                  "reject_reason"]

    # Set to False (by ResidentAdmin.get_form) for users without residents.view_pii: the stored ID
    # number and phone are then not put in the page; empty inputs keep them.
    pii_in_clear = True
    _MASKS = {"id_card": mask_id_card, "phone": mask_phone}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.pii_in_clear:
            for name, mask in self._MASKS.items():
                self.fields[name].required = False
                self.fields[name].help_text = _("Leave empty to keep: %(masked)s") % {
                    "masked": mask(getattr(self.instance, name))}
                self.initial[name] = ""

    def _kept(self, name: str) -> str:
        value = self.cleaned_data.get(name) or ""
        if not value and self.instance.pk and not self.pii_in_clear:
            return getattr(self.instance, name)
        return value

    def clean_id_card(self) -> str:
        return self._kept("id_card")

    def clean_phone(self) -> str:
        return self._kept("phone")

    def clean_valid_until(self) -> dt.datetime | None:
        return validity_end(self.cleaned_data.get("valid_until"))

    def clean(self):
        cleaned = super().clean()
        room, community = cleaned.get("room"), cleaned.get("community")
        if room and community and room.building.community_id != community.pk:
            self.add_error("room", _("This room belongs to another community."))
        if cleaned.get("valid_from") and cleaned.get("valid_until") and cleaned["valid_until"] < cleaned["valid_from"]:
            self.add_error("valid_until", _("is before the start of validity"))
        return cleaned


class ReadOnlyInline(ScopedTabularInline):
    """A record of what happened to a person: shown, never added, changed or deleted here."""

    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return list(self.fields or [])

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ResidentChangeInline(ReadOnlyInline):
    model = ResidentChange
    # The stored codes and the system's labels ("pending", "registered by the city") shown translated.
    fields = ["at", "by", "from_shown", "to_shown", "reason_shown"]

    @admin.display(description=_("by"))
    def by(self, change: ResidentChange) -> str:
        return change.by

    @admin.display(description=_("from"))
    def from_shown(self, change: ResidentChange) -> str:
        return change.from_label

    @admin.display(description=_("to"))
    def to_shown(self, change: ResidentChange) -> str:
        return change.to_label

    @admin.display(description=_("reason"))
    def reason_shown(self, change: ResidentChange) -> str:
        return change.reason_display


class ResidentProposalInline(ReadOnlyInline):
    """Re-applications of an active person and their fate; decided on the guard pages (old and new side
    by side there). The proposed data itself (ID number, phone) is not shown here."""

    model = ResidentProposal
    fields = ["created_at", "ywlsh", "status", "decided_by", "decided_at", "reject_reason"]


class ReviewActionForm(ActionForm):
    """The admin's action bar with a reason, used by "reject selected"."""

    reason = forms.CharField(label=_("Reason for rejection"), max_length=200, required=False)


@admin.register(Resident)
class ResidentAdmin(ScopedModelAdmin):
    form = ResidentForm
    action_form = ReviewActionForm
    actions = ["approve_selected", "reject_selected"]
    list_display = ["name", "person_type", "masked_id_card", "masked_phone", "room", "status", "photo_status",
                    "valid_until", "user_id", "community", "created_at"]
    list_filter = ["status", "person_type", "source", "photo_status", "room__needs_confirmation", "community",
                   "room__building", "room__unit", "room__floor"]
    # The review queue's count: each filter choice shows how many people it holds (in the user's scope).
    show_facets = admin.ShowFacets.ALWAYS
    # Also by full ID number, phone and room (get_search_results): those need more than a column search.
    search_fields = ["name", "city_owner_id", "ywlsh"]
    search_help_text = _("Name, full ID number, phone, room (1栋1单元3楼01号, or 1栋1单元), ownerId or ywlsh.")
    list_select_related = ["room__building", "community"]
    # Typed, not picked from a list of every room (a community has thousands); scoped like every choice.
    autocomplete_fields = ["room"]
    # Status changes go through the review actions (history, callback), never a bare edit.
    readonly_fields = ["status", "photo_status", "photo_error", "photo_preview", "reviewed_by", "reviewed_at",
                       "reject_reason", "created_at", "updated_at"]
    inlines = [ResidentProposalInline, ResidentChangeInline]
    date_hierarchy = "created_at"

    @admin.display(description=_("ID card"))
    def masked_id_card(self, resident: Resident) -> str:
        return resident.masked_id_card

    @admin.display(description=_("phone"))
    def masked_phone(self, resident: Resident) -> str:
        return resident.masked_phone

    @admin.display(description=_("photo"))
    def photo_preview(self, resident: Resident) -> str:
        if not resident.photo:
            return "-"
        return format_html('<img src="{}" style="max-height:160px" alt="">',
                           reverse("residents:photo", args=[resident.pk]))

    @admin.action(description=_("Approve selected pending people"))
    def approve_selected(self, request: HttpRequest, queryset) -> None:
        done = self._review_each(request, queryset, lambda r: services.approve_resident(r, acting_user=request.user))
        self.message_user(request, ngettext("%(n)d person approved.", "%(n)d people approved.", done) % {"n": done})

    @admin.action(description=_("Reject selected pending people (reason required)"))
    def reject_selected(self, request: HttpRequest, queryset) -> None:
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            self.message_user(request, _("Enter a reason to reject."), messages.ERROR)
            return
        done = self._review_each(request, queryset,
                                 lambda r: services.reject_resident(r, acting_user=request.user, reason=reason))
        self.message_user(request, ngettext("%(n)d person rejected.", "%(n)d people rejected.", done) % {"n": done})

    def _review_each(self, request: HttpRequest, queryset, action) -> int:
        done = skipped = 0
        for resident in queryset.filter(status=Resident.Status.PENDING):
            try:
                action(resident)
                done += 1
            except services.ReviewError:
                skipped += 1
        skipped += queryset.exclude(status=Resident.Status.PENDING).count()
        if skipped:
            self.message_user(request, ngettext("%(n)d was not pending and was left alone.",
                                                "%(n)d were not pending and were left alone.", skipped)
                              % {"n": skipped}, messages.WARNING)
        return done

    @admin.display(description=_("userId"))
    def user_id(self, resident: Resident) -> str:
        return resident.user_id

    def get_form(self, request: HttpRequest, obj: Resident | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.has_perm("residents.view_pii"):
            return form
        return type(form.__name__, (form,), {"pii_in_clear": False})

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # ID numbers and phones are stored encrypted: a full ID number or a phone is found through its keyed hash.
        term = search_term.strip()
        if _ID_LIKE.match(term):
            return queryset.filter(id_card_hash=keyed_hash(term)), False
        room = parse_room_label(term)
        if room is not None:
            parts = {"building": "room__building__number", "unit": "room__unit", "floor": "room__floor",
                     "room": "room__number"}
            return queryset.filter(**{parts[part]: value for part, value in room.items()}), False
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _PHONE_LIKE.match(term) and len(phone_key(term)) >= 7:
            # Digits may also be an ownerId or a ywlsh: the phone's matches come on top of the column search.
            found = found | queryset.filter(phone_hash=phone_lookup_hash(term))
        return found, may_have_duplicates


@admin.register(ApplyAccessCall)
class ApplyAccessCallAdmin(ScopedModelAdmin):
    """What the city sent and what we answered. Read-only; the body is shown masked only."""

    list_display = ["received_at", "ywlsh", "community_city_id", "outcome", "answer_code", "message", "problem",
                    "remote_addr"]
    list_filter = ["outcome", "community"]
    search_fields = ["ywlsh", "community_city_id"]
    fields = ["received_at", "remote_addr", "content_type", "body_bytes", "summary", "ywlsh", "community_city_id",
              "community", "resident", "outcome", "answer_code", "message", "applied_at", "problem"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Accepted calls are applied within seconds; older ones mean no worker is applying them (the
        # city was answered, the people are not in the guards' queue yet): say so where staff look.
        stalled = services.stalled_accepted_calls(self.get_queryset(request))
        if stalled is not None:
            count, oldest_seconds = stalled
            self.message_user(request, _(
                "%(count)d accepted call(s) have waited %(minutes)d minute(s) or more to be applied: check that the "
                "Celery workers are running.") % {"count": count, "minutes": oldest_seconds // 60},
                messages.WARNING)
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A record of what the city sent: only the retention sweep deletes it.
        return False


# Excel import jobs, templates and exports (residents/excel/admin.py).
from .excel import admin as excel_admin  # noqa: E402, F401
