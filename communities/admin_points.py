"""The points' admin: the list with its name check, the import of provincial point names, and the
inline on a community's page."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from afxq_portal.text import TextRulesFormMixin

from .admin_scope import ScopedModelAdmin, ScopedTabularInline, scoped_queryset
from .models import Community, MonitoringPoint
from .points import import_provincial_names, parse_point_name_lines


def warn_of_mismatched_points(request: HttpRequest, points: list[MonitoringPoint]) -> None:
    """Saved, but the city matches a point by its number = the provincial name: say so at once."""
    mismatched = [point for point in points if not point.name_matches]
    if mismatched:
        messages.warning(request, _("Point number differs from the provincial point name (the city needs them "
                                    "equal): %(points)s") % {
            "points": ", ".join(f"{p.number} ≠ {p.provincial_name or '∅'}" for p in mismatched)})


def point_name_flag(point: MonitoringPoint) -> str:
    if point.name_matches:
        return format_html('<span class="afxq-ok" title="{}">✔</span>', _("matches"))
    if not point.provincial_name:
        return format_html('<span class="afxq-bad">✘ {}</span>', _("provincial name missing"))
    return format_html('<span class="afxq-bad">✘ {}</span>', _("differs"))


class PointInline(ScopedTabularInline):
    model = MonitoringPoint
    fields = ["police_point_id", "number", "provincial_name", "name_check", "kind", "default_direction", "location"]
    readonly_fields = ["name_check"]

    @admin.display(description=_("number = provincial name"))
    def name_check(self, point: MonitoringPoint) -> str:
        return point_name_flag(point) if point.pk else "-"


class NameMatchFilter(admin.SimpleListFilter):
    title = _("number = provincial name")
    parameter_name = "name_match"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("yes", _("matches")), ("no", _("mismatch"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MonitoringPoint]) -> QuerySet[MonitoringPoint]:
        if self.value() == "yes":
            return queryset.filter(provincial_name=F("number"))
        if self.value() == "no":
            return queryset.exclude(provincial_name=F("number"))
        return queryset


class PointNamesForm(TextRulesFormMixin, forms.Form):
    community = forms.ModelChoiceField(queryset=Community.objects.none(), label=_("community"))
    lines = forms.CharField(
        label=_("provincial point names"), widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text=_("One point per line: policePointId, provincial point name (copied from the provincial platform)."),
    )


@admin.register(MonitoringPoint)
class MonitoringPointAdmin(ScopedModelAdmin):
    list_display = ["number", "provincial_name", "name_check", "police_point_id", "kind", "default_direction",
                    "community", "location"]
    list_filter = [NameMatchFilter, "kind", "community"]
    search_fields = ["number", "provincial_name", "police_point_id", "location"]
    change_list_template = "admin/communities/monitoringpoint/change_list.html"

    @admin.display(description=_("number = provincial name"))
    def name_check(self, point: MonitoringPoint) -> str:
        return point_name_flag(point)

    def save_model(self, request: HttpRequest, obj: MonitoringPoint, form: forms.Form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        warn_of_mismatched_points(request, [obj])

    def get_urls(self):
        return [
            path("import-names/", self.admin_site.admin_view(self.import_names_view),
                 name="communities_monitoringpoint_import_names"),
            *super().get_urls(),
        ]

    def import_names_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = PointNamesForm(request.POST or None)
        form.fields["community"].queryset = scoped_queryset(Community, request)
        if request.method == "POST" and form.is_valid():
            pairs, problems = parse_point_name_lines(form.cleaned_data["lines"])
            for problem in problems:
                messages.error(request, problem)
            if not problems:
                result = import_provincial_names(form.cleaned_data["community"], pairs)
                messages.success(request, _("%(n)d provincial names saved.") % {"n": len(result.updated)})
                if result.unknown:
                    messages.warning(request, _("Unknown policePointId: %(ids)s") % {"ids": ", ".join(result.unknown)})
                if result.mismatched:
                    messages.warning(request, _("Still different from the point number: %(points)s") % {
                        "points": ", ".join(f"{p.number} ≠ {p.provincial_name or '∅'}" for p in result.mismatched)})
                url = reverse("admin:communities_monitoringpoint_changelist")
                return HttpResponseRedirect(f"{url}?community__id__exact={form.cleaned_data['community'].pk}")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": _("Import provincial point names")}
        return render(request, "admin/communities/monitoringpoint/import_names.html", context)
