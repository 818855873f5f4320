"""Monitoring points: written here only, by onboarding (``configure_points``) and by the import of
the provincial point names (the manual, 2.9: 点位编号 must equal the provincial 点位名称)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from afxq_portal.text import line_problem

from .models import Community, MonitoringPoint


@dataclass(frozen=True)
class PointSpec:
    police_point_id: str
    number: str
    kind: str = MonitoringPoint.Kind.FACE_PANEL

    @classmethod
    def parse(cls, text: str) -> PointSpec:
        """``POLICE_POINT_ID:NUMBER[:KIND]``."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"point {text!r}: expected POLICE_POINT_ID:NUMBER[:KIND]")
        kind = parts[2] if len(parts) == 3 else MonitoringPoint.Kind.FACE_PANEL
        if kind not in MonitoringPoint.Kind.values:
            raise ValueError(f"point {text!r}: kind must be one of {', '.join(MonitoringPoint.Kind.values)}")
        return cls(parts[0], parts[1], kind)


def _save_point(point: MonitoringPoint, spec: PointSpec) -> None:
    """Validate first (length, a number used twice in the community) so that a bad point is a clear
    error, not a database one; the caller's transaction then rolls back everything."""
    try:
        point.full_clean()
    except ValidationError as exc:
        problems = "; ".join(" ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
                             for field, messages in exc.message_dict.items())
        raise ValueError(f"point {spec.police_point_id}: {problems}") from exc
    point.save()


def configure_points(community: Community, specs: Iterable[PointSpec]) -> list[str]:
    """Create or update points by ``policePointId``; returns human-readable changes. Runs inside the
    caller's transaction, which rolls back everything on a bad point."""
    changes: list[str] = []
    for spec in specs:
        point = MonitoringPoint.objects.filter(police_point_id=spec.police_point_id).first()
        if point is not None and point.community_id != community.pk:
            raise ValueError(f"point {spec.police_point_id} belongs to another community")
        if point is None:
            point = MonitoringPoint(community=community, police_point_id=spec.police_point_id,
                                    number=spec.number, kind=spec.kind)
            _save_point(point, spec)
            changes.append(f"point {spec.police_point_id}: created “{spec.number}” ({spec.kind})")
        elif (point.number, point.kind) != (spec.number, spec.kind):
            changes.append(f"point {spec.police_point_id}: “{point.number}” ({point.kind}) → “{spec.number}” ({spec.kind})")
            point.number, point.kind = spec.number, spec.kind
            _save_point(point, spec)
    return changes


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


def check_pairs(entries: Iterable[tuple[str, str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The pairs to keep and the problems, from ``(where, policePointId, name)`` entries (``where`` names the
    line or row in the problems); an entry with neither part is skipped. The one rule for every import of
    provincial names, pasted or from a workbook."""
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for where, point_id, name in entries:
        if not point_id and not name:
            continue
        if not point_id or not name:
            problems.append(_("%(where)s: the point id and the name are both required") % {"where": where})
            continue
        problem = pair_problem(point_id, name)
        if problem:
            problems.append(_("%(where)s: %(problem)s") % {"where": where, "problem": problem})
            continue
        pairs.append((point_id, name))
    return pairs, problems


def parse_point_name_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Lines of ``policePointId,provincial name`` (comma, tab or full-width comma)."""
    entries: list[tuple[str, str, str]] = []
    unreadable: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        where = _("line %(n)d") % {"n": line_no}
        for separator in ("\t", ",", "，"):
            if separator in line:
                point_id, name = (part.strip() for part in line.split(separator, 1))
                entries.append((where, point_id, name))
                break
        else:
            unreadable.append(_("%(where)s: expected “policePointId,point name”") % {"where": where})
    pairs, problems = check_pairs(entries)
    return pairs, unreadable + problems


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
