"""Link monitoring figures per community and endpoint, for the admin pages. Read-only, a handful of
grouped queries whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from afxq_portal.pii import mask_text
from communities.models import Community

from .models import Endpoint, LinkState, OutboxRecord

BACKLOG = (OutboxRecord.Status.PENDING, OutboxRecord.Status.IN_FLIGHT)


@dataclass
class EndpointFigures:
    endpoint: str
    label: str
    backlog: int = 0
    oldest: datetime | None = None
    sent_hour: int = 0
    sent_day: int = 0
    dead: int = 0

    @property
    def oldest_age(self) -> timedelta | None:
        return timezone.now() - self.oldest if self.oldest else None


@dataclass
class CommunityLink:
    community: Community
    state: LinkState | None
    endpoints: list[EndpointFigures] = field(default_factory=list)

    @property
    def backlog(self) -> int:
        return sum(e.backlog for e in self.endpoints)

    @property
    def dead(self) -> int:
        return sum(e.dead for e in self.endpoints)

    @property
    def sent_hour(self) -> int:
        return sum(e.sent_hour for e in self.endpoints)

    @property
    def sent_day(self) -> int:
        return sum(e.sent_day for e in self.endpoints)

    @property
    def oldest(self) -> datetime | None:
        times = [e.oldest for e in self.endpoints if e.oldest is not None]
        return min(times) if times else None

    @property
    def oldest_age(self) -> timedelta | None:
        return timezone.now() - self.oldest if self.oldest else None

    @property
    def halted(self) -> str:
        return self.community.uploads_halted_reason

    @property
    def is_down(self) -> bool:
        return bool(self.halted) or bool(self.state and self.state.alert_state == LinkState.Alert.DOWN)

    @property
    def last_success_at(self) -> datetime | None:
        return self.state.last_success_at if self.state else None

    @property
    def last_error(self) -> str:
        return mask_text(self.state.last_error) if self.state else ""  # the city's error may echo a record

    @property
    def last_error_at(self) -> datetime | None:
        return self.state.last_error_at if self.state else None

    def severity(self) -> tuple:
        """Worst first: down, then dead letters, then the oldest waiting record, then the backlog."""
        age = self.oldest_age.total_seconds() if self.oldest_age else 0
        return (self.is_down, self.dead > 0, age, self.backlog)


def links(communities: QuerySet[Community]) -> list[CommunityLink]:
    now = timezone.now()
    communities = list(communities)
    ids = [c.pk for c in communities]
    rows = (OutboxRecord.objects.filter(community_id__in=ids).values("community_id", "endpoint").annotate(
        backlog=Count("id", filter=Q(status__in=BACKLOG)),
        oldest=Min("created_at", filter=Q(status__in=BACKLOG)),
        sent_hour=Count("id", filter=Q(status=OutboxRecord.Status.SENT, sent_at__gte=now - timedelta(hours=1))),
        sent_day=Count("id", filter=Q(status=OutboxRecord.Status.SENT, sent_at__gte=now - timedelta(days=1))),
        dead=Count("id", filter=Q(status=OutboxRecord.Status.DEAD))).order_by())
    figures = {(r["community_id"], r["endpoint"]): r for r in rows}
    states = {s.community_id: s for s in LinkState.objects.filter(community_id__in=ids)}
    result = []
    for community in communities:
        link = CommunityLink(community, states.get(community.pk))
        for endpoint in Endpoint:
            row = figures.get((community.pk, endpoint.value), {})
            link.endpoints.append(EndpointFigures(
                endpoint.value, str(endpoint.label), row.get("backlog", 0), row.get("oldest"),
                row.get("sent_hour", 0), row.get("sent_day", 0), row.get("dead", 0)))
        result.append(link)
    return sorted(result, key=lambda link: link.severity(), reverse=True)
