from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, URLField
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from afxq_portal.pii import mask_id_card, mask_phone, mask_text
from afxq_portal.text import TextRulesFormMixin

from . import link_health, services
from .addresses import AddressError, parse_room_label, parse_seven_segment
from .admin_points import PointInline, warn_of_mismatched_points
from .admin_scope import (
    ScopedModelAdmin,
    ScopedStackedInline,
    ScopedTabularInline,
    SuperuserOnlyAdmin,
    SuperuserOnlyMixin,
)
from .forms import GuardForm, PropertyStaffForm, ProvincialCredentialForm, SiteCredentialForm
from .models import Building, Community, Guard, Membership, MonitoringPoint, Room, SupportContact
from .permission_names import PermissionNamesMixin

admin.site.site_header = _("afxq-portal · smart-security community")
admin.site.site_title = _("afxq-portal")
admin.site.index_title = _("Community management")


# Logins and groups span communities: only platform administrators manage them, whatever Django
# permissions a property-staff account may have been given.
class PlatformUserAdmin(PermissionNamesMixin, SuperuserOnlyMixin, UserAdmin):
    # Guards log in with their phone number: the list masks it like every other phone.
    list_display = ["login", "first_name", "email", "is_staff", "is_superuser", "is_active"]

    @admin.display(description=_("username"), ordering="username")
    def login(self, user) -> str:
        return mask_text(user.get_username())

    def action_checkbox(self, user) -> str:
        # Django labels each row's checkbox with str(user), i.e. the guard's phone number.
        return super().action_checkbox(_MaskedRow(user.pk, mask_text(str(user))))


class _MaskedRow:
    def __init__(self, pk: int, label: str) -> None:
        self.pk, self.label = pk, label

    def __str__(self) -> str:
        return self.label


class PlatformGroupAdmin(PermissionNamesMixin, SuperuserOnlyMixin, GroupAdmin):
    pass


for _model, _admin in ((get_user_model(), PlatformUserAdmin), (Group, PlatformGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)


class SupportContactInline(ScopedTabularInline):
    model = SupportContact


class SiteCredentialInline(ScopedStackedInline):
    model = SiteCredentialForm.Meta.model
    form = SiteCredentialForm
    can_delete = False


class ProvincialCredentialInline(ScopedStackedInline):
    model = ProvincialCredentialForm.Meta.model
    form = ProvincialCredentialForm
    can_delete = False


# A point is a mismatch when its provincial name is missing or differs from its number (the manual, 2.9).
POINT_MISMATCH = Q(points__provincial_name="") | ~Q(points__provincial_name=F("points__number"))


@admin.register(Community)
class CommunityAdmin(ScopedModelAdmin):
    # Fits a laptop's screen: category, level and guard review are filters (and on the page), not columns.
    list_display = ["name", "city_id", "standard_address", "point_count", "point_mismatches", "uploads_state"]
    list_filter = ["category", "level", "requires_guard_review"]
    search_fields = ["name", "city_id", "street"]
    readonly_fields = ["uploads_halted_at", "created_at"]
    inlines = [SupportContactInline, SiteCredentialInline, ProvincialCredentialInline, PointInline]
    # The two integration URLs: an address typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "city_id", "category", "level"]}),
        (_("Standard address"), {"fields": ["province", "city", "district", "street"]}),
        (_("Integration"), {"fields": ["push_address", "registration_callback_url", "requires_guard_review",
                                       "uploads_halted_reason", "uploads_halted_at", "created_at"]}),
    ]

    @admin.display(description=_("standard address"))
    def standard_address(self, community: Community) -> str:
        return community.standard_address

    @admin.display(description=_("uploads"))
    def uploads_state(self, community: Community) -> str:
        # The link's state as uploads decides it (the link page, the alerts and the dashboard say the same).
        badge = getattr(community, "link_badge", None) or link_health.badges([community]).get(community.pk)
        reason = f": {community.uploads_halted_reason}" if community.uploads_halted_reason else ""
        if badge is None:
            return format_html('<span class="afxq-bad">✘ {}</span>', community.uploads_halted_reason) if reason else "—"
        return format_html('<span class="{} link-state" data-state="{}">{}{}</span>', badge.css, badge.state,
                           badge.label, reason)

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluated once: the template iterates the same cached rows
        found = link_health.badges(page)  # a few queries for the page, not per row
        for community in page:
            community.link_badge = found.get(community.pk)
        return changelist

    @admin.display(description=_("points"), ordering="point_count")
    def point_count(self, community: Community) -> int:
        return community.point_count

    @admin.display(description=_("point name mismatches"), ordering="mismatch_count")
    def point_mismatches(self, community: Community) -> str:
        if not community.mismatch_count:
            return format_html('<span class="afxq-ok">{}</span>', "✔ 0")
        url = reverse("admin:communities_monitoringpoint_changelist")
        return format_html('<a href="{}?community__id__exact={}&amp;name_match=no"><span class="afxq-bad">✘ {}</span></a>',
                           url, community.pk, community.mismatch_count)

    def save_formset(self, request: HttpRequest, form: forms.Form, formset: BaseInlineFormSet, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is MonitoringPoint:
            warn_of_mismatched_points(request, [*formset.new_objects, *(obj for obj, _f in formset.changed_objects)])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Community]:
        # The counts group the rows, and Django ignores Meta.ordering in a grouped query: ordered again (the pk
        # breaking ties) so that the autocomplete's pages neither repeat nor skip a community.
        return super().get_queryset(request).annotate(
            point_count=Count("points", distinct=True),
            mismatch_count=Count("points", filter=POINT_MISMATCH, distinct=True)).order_by(*Community._meta.ordering, "pk")

    # Only platform administrators change these: the communityId ties a community to the city's data, and
    # the workers post to the two URLs (staff could otherwise aim our servers at any internal address);
    # halted uploads are resumed from the link page, which records who did it.
    PLATFORM_FIELDS = ("city_id", "push_address", "registration_callback_url", "uploads_halted_reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Community | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, *self.PLATFORM_FIELDS]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Community | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser


class GenerateRoomsForm(TextRulesFormMixin, forms.Form):
    line_fields = ("units", "floors", "numbers")

    units = forms.CharField(label=_("units (单元)"), initial="1", help_text=_("e.g. 1-2 or 1,3"))
    floors = forms.CharField(label=_("floors (层)"), initial="1-6", help_text=_("e.g. 1-30 or -1,1-18"))
    numbers = forms.CharField(label=_("rooms per floor (号)"), initial="01-04", help_text=_("e.g. 01-04 keeps the zero"))

    def _range(self, name: str) -> list[str]:
        try:
            return services.parse_segment_range(self.cleaned_data[name])
        except services.RoomRangeError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_units(self) -> list[str]:
        return self._range("units")

    def clean_floors(self) -> list[str]:
        return self._range("floors")

    def clean_numbers(self) -> list[str]:
        return self._range("numbers")


class RoomInline(ScopedTabularInline):
    model = Room
    fields = ["unit", "floor", "number", "needs_confirmation", "seven_segment"]
    readonly_fields = ["seven_segment"]
    extra = 1

    @admin.display(description=_("7-segment address"))
    def seven_segment(self, room: Room) -> str:
        return room.seven_segment_address if room.pk else "-"


# Above this many rooms a building's page lists none (one of 400 rooms was 12,000 px tall) and links to the
# room list filtered to the building, which pages and searches them.
ROOM_INLINE_LIMIT = 40


@admin.register(Building)
class BuildingAdmin(ScopedModelAdmin):
    list_display = ["__str__", "community", "room_count", "needs_confirmation"]
    list_filter = ["needs_confirmation", "community"]
    search_fields = ["number", "community__name"]
    list_select_related = ["community"]
    inlines = [RoomInline]

    @admin.display(description=_("rooms"), ordering="room_total")
    def room_count(self, building: Building) -> int:
        return building.room_total

    def get_queryset(self, request: HttpRequest) -> QuerySet[Building]:
        # Ordered again, as for communities: a grouped query drops Meta.ordering.
        return super().get_queryset(request).annotate(room_total=Count("rooms")).order_by(*Building._meta.ordering, "pk")

    def get_urls(self):
        return [
            path("<path:object_id>/generate-rooms/", self.admin_site.admin_view(self.generate_rooms_view),
                 name="communities_building_generate_rooms"),
            *super().get_urls(),
        ]

    def _too_many_rooms(self, building: Building | None) -> bool:
        return building is not None and building.pk is not None and \
            Room.objects.filter(building=building).count() > ROOM_INLINE_LIMIT

    def get_inline_instances(self, request: HttpRequest, obj: Building | None = None) -> list:
        inlines = super().get_inline_instances(request, obj)
        if self._too_many_rooms(obj):
            return [inline for inline in inlines if not isinstance(inline, RoomInline)]
        return inlines

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        building = self.get_object(request, object_id)
        rooms_url = reverse("admin:communities_room_changelist") + f"?building__id__exact={building.pk}" \
            if building is not None else ""
        extra_context = {**(extra_context or {}), "generate_rooms_label": _("Generate rooms"),
                         "rooms_url": rooms_url, "rooms_label": _("Rooms of this building"),
                         "rooms_listed_elsewhere": self._too_many_rooms(building),
                         "room_total": building.rooms.count() if building is not None else 0}
        return super().change_view(request, object_id, form_url, extra_context)

    def generate_rooms_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Create a building's rooms in one go: units × floors × numbers, skipping rooms that exist."""
        building = self.get_object(request, object_id)
        if building is None or not self.has_change_permission(request, building):
            raise Http404
        form = GenerateRoomsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                created = services.generate_rooms(building, **form.cleaned_data, acting_user=request.user)
            except services.RoomRangeError as exc:
                form.add_error(None, str(exc))
            else:
                self.log_change(request, building, f"generated {created} rooms")
                self.message_user(request, _("%(n)d rooms created.") % {"n": created}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:communities_building_change", args=[building.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "original": building, "title": _("Generate rooms of %(building)s") % {"building": building}}
        return TemplateResponse(request, "admin/communities/building/generate_rooms.html", context)


@admin.register(Room)
class RoomAdmin(ScopedModelAdmin):
    list_display = ["__str__", "seven_segment", "community", "needs_confirmation"]
    list_filter = ["needs_confirmation", "building__community"]
    search_fields = ["number", "building__number", "building__community__name"]
    list_select_related = ["building__community"]
    actions = ["confirm_rooms"]

    @admin.display(description=_("7-segment address"))
    def seven_segment(self, room: Room) -> str:
        return room.seven_segment_address

    @admin.display(description=_("community"), ordering="building__community__name")
    def community(self, room: Room) -> Community:
        return room.building.community

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Room], search_term: str):
        # Staff paste addresses as the city and the residents write them: find the room of a 7-segment address.
        try:
            address = parse_seven_segment(search_term)
        except AddressError:
            # Or the room as Room.__str__ names it ("1栋1单元3楼01号", or its beginning): the room picker's search.
            room = parse_room_label(search_term)
            if room is None:
                return super().get_search_results(request, queryset, search_term)
            parts = {"building": "building__number", "unit": "unit", "floor": "floor", "room": "number"}
            return queryset.filter(**{parts[part]: value for part, value in room.items()}), False
        standard = address.standard
        return queryset.filter(
            building__community__province=standard.province, building__community__city=standard.city,
            building__community__district=standard.district, building__community__street=standard.street,
            building__number=address.building, unit=address.unit, floor=address.floor, number=address.room,
        ), False

    @admin.action(description=_("Confirm the selected rooms"))
    def confirm_rooms(self, request: HttpRequest, queryset) -> None:
        count = queryset.update(needs_confirmation=False)
        self.message_user(request, _("%(n)d rooms confirmed.") % {"n": count})


@admin.register(Guard)
class GuardAdmin(ScopedModelAdmin):
    form = GuardForm
    list_display = ["name", "community", "masked_phone", "masked_id_card", "is_active"]
    list_filter = ["community"]
    list_select_related = ["community", "user"]
    search_fields = ["name", "phone"]

    @admin.display(description=_("phone"))
    def masked_phone(self, guard: Guard) -> str:
        return mask_phone(guard.phone)

    @admin.display(description=_("ID card"))
    def masked_id_card(self, guard: Guard) -> str:
        return mask_id_card(guard.id_card)

    @admin.display(description=_("active"), boolean=True)
    def is_active(self, guard: Guard) -> bool:
        return guard.user.is_active

    def delete_model(self, request: HttpRequest, guard: Guard) -> None:
        services.remove_guard(guard, acting_user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Guard]) -> None:
        for guard in queryset.select_related("user"):
            services.remove_guard(guard, acting_user=request.user)


@admin.register(Membership)
class MembershipAdmin(SuperuserOnlyAdmin):
    list_display = ["user", "community"]
    list_filter = ["community"]
    autocomplete_fields = ["user"]
    change_list_template = "admin/communities/membership/change_list.html"

    def get_urls(self):
        return [
            path("add-staff/", self.admin_site.admin_view(self.add_staff_view), name="communities_membership_add_staff"),
            *super().get_urls(),
        ]

    def add_staff_view(self, request: HttpRequest) -> HttpResponse:
        """A colleague's access in one step: the login, its password and its communities. Platform administrators
        only, like every login (SuperuserOnlyMixin): staff do not manage logins."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PropertyStaffForm(request.POST or None, communities=Community.objects.order_by("name"))
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():  # the login, its memberships and the admin's history row together
                user = services.add_property_staff(
                    username=form.cleaned_data["username"], password=form.cleaned_data["password1"],
                    first_name=form.cleaned_data["first_name"], communities=list(form.cleaned_data["communities"]),
                    acting_user=request.user)
                self.log_addition(request, user, [{"added": {"name": "property staff", "object": user.get_username()}}])
            self.message_user(request, _("%(user)s can now log in and manage %(communities)s.") % {
                "user": user.get_username(),
                "communities": "、".join(c.name for c in form.cleaned_data["communities"])}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:communities_membership_changelist") + f"?user__id__exact={user.pk}")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": _("Add property staff")}
        return TemplateResponse(request, "admin/communities/membership/add_staff.html", context)
