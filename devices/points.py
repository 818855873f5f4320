"""Matching our point numbers to the provincial point names (the manual, 2.9)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from afxq_portal.text import line_problem
from communities.models import Community

from .models import MonitoringPoint


@dataclass
class PointNameImport:
    updated: list[MonitoringPoint] = field(default_factory=list)
    mismatched: list[MonitoringPoint] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pair_problem(point_id: str, name: str) -> str | None:
    """Why a (policePointId, provincial name) pair cannot be kept (afxq_portal.text), naming which part."""
    for label, text in ((_("the point id"), point_id), (_("the name"), name)):
        problem = line_problem(text)
        if problem:
            return f"{label} {problem}"
    return None


def parse_point_name_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Lines of ``policePointId,provincial name`` (comma, tab or full-width comma)."""
    pairs, problems = [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        for separator in ("\t", ",", "，"):
            if separator in line:
                point_id, name = (part.strip() for part in line.split(separator, 1))
                break
        else:
            problems.append(_("line %(n)d: expected “policePointId,point name”") % {"n": line_no})
            continue
        if not point_id or not name:
            problems.append(_("line %(n)d: the point id and the name are both required") % {"n": line_no})
            continue
        problem = pair_problem(point_id, name)
        if problem:
            problems.append(_("line %(n)d: %(problem)s") % {"n": line_no, "problem": problem})
            continue
        pairs.append((point_id, name))
    return pairs, problems


@transaction.atomic
def import_provincial_names(community: Community, pairs: list[tuple[str, str]]) -> PointNameImport:
    """Set the provincial names of a community's points; report points that still differ."""
    result = PointNameImport()
    points = {p.police_point_id: p for p in MonitoringPoint.objects.filter(community=community)}
    for point_id, name in pairs:
        point = points.get(point_id)
        if point is None:
            result.unknown.append(point_id)
            continue
        point.provincial_name = name
        result.updated.append(point)
    MonitoringPoint.objects.bulk_update(result.updated, ["provincial_name"])
    result.mismatched = [p for p in points.values() if not p.name_matches]
    return result
