from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from afxq_portal.crypto import keyed_hash
from afxq_portal.validators import validate_id_card, validate_phone
from communities.admin_scope import ScopedModelAdmin, ScopedTabularInline

from .models import Resident, ResidentChange

_ID_LIKE = re.compile(r"^[0-9]{17}[0-9Xx]$")


class ResidentForm(forms.ModelForm):
    id_card = forms.CharField(label=_("ID card"), max_length=18, validators=[validate_id_card])
    phone = forms.CharField(label=_("phone"), max_length=20, validators=[validate_phone])

    class Meta:
        model = Resident
        fields = ["community", "name", "id_card", "phone", "sex", "person_type", "room", "address", "city_owner_id",
                  "init_uuid", "ywlsh", "source", "valid_from", "valid_until", "photo", "photo_status", "status",
                  "reject_reason"]

    def clean(self):  # noqa: ANN201
        cleaned = super().clean()
        room, community = cleaned.get("room"), cleaned.get("community")
        if room and community and room.building.community_id != community.pk:
            self.add_error("room", _("This room belongs to another community."))
        if cleaned.get("valid_from") and cleaned.get("valid_until") and cleaned["valid_until"] < cleaned["valid_from"]:
            self.add_error("valid_until", _("is before the start of validity"))
        return cleaned


class ResidentChangeInline(ScopedTabularInline):
    model = ResidentChange
    fields = ["at", "actor", "actor_label", "from_status", "to_status", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Resident)
class ResidentAdmin(ScopedModelAdmin):
    form = ResidentForm
    list_display = ["name", "person_type", "masked_id_card", "masked_phone", "room", "status", "photo_status",
                    "valid_until", "user_id", "community", "created_at"]
    list_filter = ["status", "person_type", "source", "photo_status", "community"]
    search_fields = ["name", "city_owner_id", "ywlsh"]
    list_select_related = ["room__building", "community"]
    readonly_fields = ["reviewed_by", "reviewed_at", "created_at", "updated_at"]
    inlines = [ResidentChangeInline]
    date_hierarchy = "created_at"

    @admin.display(description=_("ID card"))
    def masked_id_card(self, resident: Resident) -> str:
        return resident.masked_id_card

    @admin.display(description=_("phone"))
    def masked_phone(self, resident: Resident) -> str:
        return resident.masked_phone

    @admin.display(description=_("userId"))
    def user_id(self, resident: Resident) -> str:
        return resident.user_id

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):  # noqa: ANN001, ANN201
        # ID numbers are stored encrypted: a full ID number is found through its keyed hash.
        term = search_term.strip()
        if _ID_LIKE.match(term):
            return queryset.filter(id_card_hash=keyed_hash(term)), False
        return super().get_search_results(request, queryset, search_term)
