"""The admin's landing page: a dashboard of the communities the user manages (communities.tenancy), live
through a small JSON endpoint that dashboard/static/dashboard/dashboard.js polls. The stock app list stays
at /admin/apps/."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from communities import tenancy
from communities.models import Community

from . import charts, figures


def _when(moment: datetime | None) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else "—"


def _age(moment: datetime | None) -> str:
    return timesince(moment) if moment else "—"


def _context(request: HttpRequest, title: str) -> dict:
    return {**admin.site.each_context(request), "title": title,
            "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
            "silent_after_minutes": settings.DEVICE_SILENT_AFTER_SECONDS // 60}


def home(request: HttpRequest) -> HttpResponse:
    """/admin/: one community: its page; several: the overview, worst first."""
    communities = tenancy.managed_communities(request.user)
    ids = list(communities.values_list("pk", flat=True)[:2])
    if len(ids) == 1:
        return community(request, ids[0])
    return TemplateResponse(request, "dashboard/overview.html", {
        **_context(request, _("Dashboard")), "lines": figures.overview(communities),
        "data_url": reverse("dashboard:overview-data")})


def apps(request: HttpRequest) -> HttpResponse:
    """The stock admin index (the app list), which the dashboard replaced as the landing page."""
    return admin.site.index(request)


def _community_or_404(request: HttpRequest, pk: int) -> Community:
    found = tenancy.managed_communities(request.user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def _charts(page: figures.CommunityPage) -> dict[str, str]:
    return {"hourly": charts.bars(page.hourly, "%H", 3, _("Events per hour, last 24 hours")),
            "daily": charts.bars(page.daily, "%m-%d", 5, _("Events per day, last 30 days"))}


def community(request: HttpRequest, pk: int) -> HttpResponse:
    found = _community_or_404(request, pk)
    page = figures.community_page(found)
    several = tenancy.managed_communities(request.user).count() > 1
    return TemplateResponse(request, "dashboard/community.html", {
        **_context(request, _("Dashboard: %(name)s") % {"name": found.name}), "page": page, "charts": _charts(page),
        "several": several, "data_url": reverse("dashboard:community-data", args=[found.pk]),
        "queue_url": reverse("admin:residents_resident_changelist") +
        f"?status__exact=pending&community__id__exact={found.pk}",
        "link_url": reverse("admin:uploads_link_detail", args=[found.pk]),
        "imports_url": reverse("admin:residents_importjob_changelist"),
        "refusals_url": reverse("admin:devices_refusedevent_changelist") + f"?community__id__exact={found.pk}",
        "terminals_url": reverse("admin:terminals_terminal_changelist") + f"?point__community__id__exact={found.pk}"})


def community_data(request: HttpRequest, pk: int) -> JsonResponse:
    """The figures of one community's page, keyed as the page's data-figure attributes."""
    page = figures.community_page(_community_or_404(request, pk))
    values: dict[str, object] = {
        "people.pending": page.people.pending, "people.approved_today": page.people.approved_today,
        "people.rejected_today": page.people.rejected_today, "people.expiring_week": page.people.expiring_week,
        "events.today": page.events_today, "devices.silent": page.silent_devices,
        "refusals.today": page.refusals.today,
        "link.state": page.link.health.label, "link.backlog": page.link.backlog, "link.dead": page.link.dead}
    for count in page.passes:
        values[f"pass.{count.point_id}.{count.direction or '-'}"] = count.count
    for e in page.link.endpoints:
        values.update({f"endpoint.{e.endpoint}.state": e.health_label or "—",
                       f"endpoint.{e.endpoint}.backlog": e.backlog, f"endpoint.{e.endpoint}.oldest": _age(e.oldest),
                       f"endpoint.{e.endpoint}.sent_today": e.sent_today,
                       f"endpoint.{e.endpoint}.last_success": _when(e.last_success),
                       f"endpoint.{e.endpoint}.dead": e.dead})
    for d in page.devices:
        values[f"device.{d.id}.last_seen"] = _when(d.last_seen)
    values["terminals.offline"] = page.offline_terminals
    for t in page.terminals:
        values.update({f"terminal.{t.id}.online": _("online") if t.online else _("offline"),
                       f"terminal.{t.id}.people": t.people, f"terminal.{t.id}.last_event": _when(t.last_event)})
    for job in page.imports:
        values[f"import.{job['id']}.percent"] = job["percent"]
        values[f"import.{job['id']}.rows_done"] = job["rows_done"]
    states = {"link.state": page.link.health.value,
              **{f"endpoint.{e.endpoint}.state": e.health for e in page.link.endpoints if e.health},
              **{f"device.{d.id}.last_seen": "silent" if d.silent else "ok" for d in page.devices},
              **{f"terminal.{t.id}.online": "online" if t.online else "offline" for t in page.terminals}}
    return JsonResponse({"community": page.community.city_id, "at": timezone.now().isoformat(), "values": values,
                         "states": states, "charts": _charts(page)})


def overview_data(request: HttpRequest) -> JsonResponse:
    lines = figures.overview(tenancy.managed_communities(request.user))
    values: dict[str, object] = {}
    states: dict[str, str] = {}
    for line in lines:
        key = f"c.{line.community.pk}"
        values.update({f"{key}.link": line.link.health.label, f"{key}.backlog": line.link.backlog,
                       f"{key}.dead": line.link.dead, f"{key}.pending": line.people.pending,
                       f"{key}.events_today": line.events_today, f"{key}.silent": line.silent_devices,
                       f"{key}.imports": line.running_imports})
        states[f"{key}.link"] = line.link.health.value
    return JsonResponse({"at": timezone.now().isoformat(), "order": [line.community.pk for line in lines],
                         "values": values, "states": states})
