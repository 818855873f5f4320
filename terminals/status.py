"""What staff read of a terminal: how many of its people are on it as they should be, and how many it refused; for
the terminals' admin and the dashboard, one home for both."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from .models import Terminal, TerminalMember

# The dashboard lists at most this many terminals of a community (offline ones first).
MAX_TERMINALS = 20


def with_counts(queryset: QuerySet[Terminal]) -> QuerySet[Terminal]:
    """Each terminal with desired_count (people who should be on it), held_count (of those, on it as they should
    be) and refused_count, in one grouped query."""
    return queryset.annotate(
        desired_count=Count("members", filter=Q(members__present=True)),
        held_count=Count("members", filter=Q(members__present=True, members__status=TerminalMember.Status.IN_SYNC)),
        refused_count=Count("members", filter=Q(members__status=TerminalMember.Status.REFUSED))
    ).order_by("point__number", "base_url", "pk")  # (an aggregate drops Meta.ordering)


def people_text(held: int, desired: int, refused: int) -> str:
    """终端上 480 / 500 人，3 人被拒绝."""
    text = _("%(held)d / %(desired)d on the terminal") % {"held": held, "desired": desired}
    return text + (_(", %(n)d refused") % {"n": refused} if refused else "")


@dataclass
class TerminalLine:
    id: int
    point: str
    online: bool
    last_event: datetime | None
    firmware: str
    held: int
    desired: int
    refused: int

    @property
    def people(self) -> str:
        return people_text(self.held, self.desired, self.refused)


def lines(community_ids: Sequence[int]) -> dict[int, list[TerminalLine]]:
    """The terminals of these communities, offline first: one query."""
    rows = with_counts(Terminal.objects.filter(point__community_id__in=community_ids)).values(
        "id", "point__number", "point__community_id", "online", "last_event_at", "firmware", "held_count",
        "desired_count", "refused_count")
    result: dict[int, list[TerminalLine]] = defaultdict(list)
    for row in rows:
        result[row["point__community_id"]].append(TerminalLine(
            row["id"], row["point__number"], row["online"], row["last_event_at"], row["firmware"], row["held_count"],
            row["desired_count"], row["refused_count"]))
    for found in result.values():
        found.sort(key=lambda line: (line.online, line.point))
        del found[MAX_TERMINALS:]
    return result
