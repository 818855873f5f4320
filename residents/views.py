"""The guards' review pages (mobile-first) and the tenancy-checked photo view.

Guards (门卫, not staff) log in with their phone number and password and see the queue of their own
community; property staff and administrators may use the same pages for their communities. Every
lookup goes through communities.tenancy: a person of another community is a 404, never a 403 that
would confirm it exists.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communities.tenancy import reviewable_communities

from . import services
from .forms import GuardLoginForm, RejectForm
from .models import Resident, ResidentChange, ResidentProposal

guard_login_required = login_required(login_url=reverse_lazy("residents:guard-login"))
QUEUE_LIMIT = 100


class GuardLoginView(auth_views.LoginView):
    template_name = "residents/guard_login.html"
    authentication_form = GuardLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("residents:guard-queue")


class GuardLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("residents:guard-login")


def reviewable_residents(request: HttpRequest) -> QuerySet[Resident]:
    communities = reviewable_communities(request.user)
    if not communities.exists():
        raise PermissionDenied
    return Resident.objects.filter(community__in=communities).select_related("community", "room__building")


def recent_reviews(residents: QuerySet[Resident]) -> QuerySet[ResidentChange]:
    """Decisions people took on the review pages or in the admin: a pending person approved or rejected,
    a re-application decided. Not Excel imports (they have an actor too, but nobody reviewed anyone)."""
    decided = Q(from_status=Resident.Status.PENDING, to_status__in=[Resident.Status.ACTIVE, Resident.Status.REJECTED])
    proposal = Q(reason__in=[services.PROPOSAL_APPROVED_REASON, services.PROPOSAL_REJECTED_REASON])
    return (ResidentChange.objects.filter(decided | proposal, resident__in=residents, actor__isnull=False)
            .select_related("resident", "actor__guard").order_by("-at", "-pk"))


def _queues(residents: QuerySet[Resident]) -> tuple[QuerySet[Resident], QuerySet[ResidentProposal]]:
    pending = residents.filter(status=Resident.Status.PENDING).order_by("-updated_at", "-pk")
    # Re-applications of active people: reviewed as changes (old and new on the detail page).
    proposals = (ResidentProposal.objects.filter(resident__in=residents.filter(status=Resident.Status.ACTIVE),
                                                 status=ResidentProposal.Status.PENDING)
                 .select_related("resident__community", "resident__room__building").order_by("-created_at", "-pk"))
    return pending, proposals


def _version(pending: QuerySet[Resident], proposals: QuerySet[ResidentProposal]) -> str:
    """Changes whenever someone joins or leaves either queue (or is updated): the page compares it."""
    shown = [*pending.values_list("pk", "updated_at")[:QUEUE_LIMIT], "|", *proposals.values_list("pk")[:QUEUE_LIMIT]]
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


@guard_login_required
def queue(request: HttpRequest) -> HttpResponse:
    residents = reviewable_residents(request)
    pending, proposals = _queues(residents)
    return render(request, "residents/guard_queue.html", {
        "pending": pending[:QUEUE_LIMIT],
        "pending_count": pending.count(),
        "proposals": proposals[:QUEUE_LIMIT],
        "proposal_count": proposals.count(),
        "recent": recent_reviews(residents)[:10],
        "reject_form": RejectForm(),
        "version": _version(pending, proposals),
        "poll_seconds": settings.GUARD_QUEUE_POLL_SECONDS,
    })


@guard_login_required
def queue_state(request: HttpRequest) -> JsonResponse:
    """What the open queue page polls: a version of both queues and their sizes (no personal data)."""
    pending, proposals = _queues(reviewable_residents(request))
    response = JsonResponse({"version": _version(pending, proposals), "pending": pending.count(),
                             "changes": proposals.count()})
    response["Cache-Control"] = "private, no-store"
    return response


@guard_login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    resident = get_object_or_404(reviewable_residents(request), pk=pk)
    proposal = services.pending_proposal(resident)
    return render(request, "residents/guard_detail.html", {
        "resident": resident,
        "proposal": proposal,
        "proposal_rows": services.proposal_rows(resident, proposal) if proposal else [],
        "changes": resident.changes.select_related("actor").all(),
        "reject_form": RejectForm(),
    })


@require_POST
@guard_login_required
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    resident = get_object_or_404(reviewable_residents(request), pk=pk)
    if "proposal" in request.POST:
        return _decide_proposal(request, resident, approve=True)
    try:
        services.approve_resident(resident, acting_user=request.user)
    except services.ReviewError:
        messages.warning(request, _("%(name)s was already reviewed.") % {"name": resident.name})
    else:
        messages.success(request, _("%(name)s approved.") % {"name": resident.name})
    return redirect("residents:guard-queue")


@require_POST
@guard_login_required
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    resident = get_object_or_404(reviewable_residents(request), pk=pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A reason is required to reject %(name)s.") % {"name": resident.name})
        return redirect("residents:guard-queue")
    if "proposal" in request.POST:
        return _decide_proposal(request, resident, approve=False, reason=form.cleaned_data["reason"])
    try:
        services.reject_resident(resident, acting_user=request.user, reason=form.cleaned_data["reason"])
    except services.ReviewError:
        messages.warning(request, _("%(name)s was already reviewed.") % {"name": resident.name})
    else:
        messages.success(request, _("%(name)s rejected.") % {"name": resident.name})
    return redirect("residents:guard-queue")


def _decide_proposal(request: HttpRequest, resident: Resident, *, approve: bool, reason: str = "") -> HttpResponse:
    """A decision on a re-application. The form names the proposal it was shown: if the city sent a
    newer one meanwhile, the guard must look again rather than approve data they have not seen."""
    current = services.pending_proposal(resident)
    if current is None or str(current.pk) != request.POST.get("proposal", ""):
        messages.warning(request, _("The application of %(name)s changed or was already reviewed; look again.")
                         % {"name": resident.name})
        return redirect("residents:guard-detail", resident.pk)
    try:
        if approve:
            services.do_approve_proposal(current, acting_user=request.user)
        else:
            services.do_reject_proposal(current, acting_user=request.user, reason=reason)
    except services.ReviewError:
        messages.warning(request, _("%(name)s was already reviewed.") % {"name": resident.name})
    except services.ApplicationConflict as exc:
        messages.error(request, _("The change of %(name)s cannot be approved: %(field)s %(reason)s.")
                       % {"name": resident.name, "field": exc.field, "reason": exc.message})
    else:
        text = _("Change of %(name)s approved.") if approve else _("Change of %(name)s rejected; the previous data stay.")
        messages.success(request, text % {"name": resident.name})
    return redirect("residents:guard-queue")


@login_required
def photo(request: HttpRequest, pk: int) -> FileResponse:
    """The face photo, to the guard of the person's community, its staff and administrators only.
    (Staff reach this from the admin, hence the plain login_required.)"""
    communities = reviewable_communities(request.user)
    resident = get_object_or_404(Resident.objects.filter(community__in=communities), pk=pk)
    if not resident.photo:
        raise Http404
    response = FileResponse(resident.photo.open("rb"), content_type="image/jpeg")
    # Sensitive personal data: no shared cache may keep it.
    response["Cache-Control"] = "private, no-store"
    return response
