"""Link monitoring figures per community and endpoint, and the one rule for a link's state
(`link_state`): the link pages, the community list, the link-state admin, the alerts and the
dashboard all show its answer. Read-only, a handful of grouped queries whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from afxq_portal.pii import mask_text
from communities.link_health import LinkBadge
from communities.models import Community

from .models import Endpoint, LinkState, OutboxRecord

BACKLOG = (OutboxRecord.Status.PENDING, OutboxRecord.Status.IN_FLIGHT)
# Registration callbacks go to the community's own URL, not to the city: they say nothing of the city link.
CITY_ENDPOINTS = tuple(e.value for e in Endpoint if e != Endpoint.REGISTRATION_CALLBACK)


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    HALTED = "halted"

    @property
    def label(self) -> str:
        return str(HEALTH_LABELS[self])

    @property
    def css(self) -> str:
        return {Health.HEALTHY: "afxq-ok", Health.DEGRADED: "afxq-warn"}.get(self, "afxq-bad")

    @property
    def rank(self) -> int:
        """Worst last: for sorting worst first with reverse=True."""
        return (Health.HEALTHY, Health.DEGRADED, Health.DOWN, Health.HALTED).index(self)

    @property
    def alerting(self) -> bool:
        """The states technical support is told about (an incident)."""
        return self in (Health.DOWN, Health.HALTED)


HEALTH_LABELS = {
    Health.HEALTHY: _("healthy"),
    Health.DEGRADED: _("degraded"),
    Health.DOWN: _("down"),
    Health.HALTED: _("halted"),
}


def link_state(*, halted: bool, last_success_at: datetime | None, last_error_at: datetime | None,
               backlog: int, oldest: datetime | None, retrying: int, now: datetime | None = None) -> Health:
    """The one rule. ``backlog``/``oldest``/``retrying``: the city endpoints' records waiting, the oldest
    one's creation, and how many of them already failed at least once (waiting for their backoff).

    - halted: the city refused the credentials (uploads stopped until they are fixed);
    - down: records wait and nothing succeeded for LINK_DOWN_AFTER_SECONDS (counted from the later of the
      last success and the oldest waiting record, so a fresh record on a quiet link is not "down");
    - degraded: the last request failed, or records that failed wait for a retry: from the first failure on;
    - healthy: otherwise, i.e. again at the first success once no failed record waits.
    """
    if halted:
        return Health.HALTED
    now = now or timezone.now()
    if backlog and oldest is not None:
        reference = max(t for t in (last_success_at, oldest) if t is not None)
        if now - reference > timedelta(seconds=settings.LINK_DOWN_AFTER_SECONDS):
            return Health.DOWN
    last_failed = last_error_at is not None and (last_success_at is None or last_error_at > last_success_at)
    if last_failed or (backlog and retrying):
        return Health.DEGRADED
    return Health.HEALTHY


@dataclass
class EndpointFigures:
    endpoint: str
    label: str
    backlog: int = 0
    oldest: datetime | None = None
    sent_hour: int = 0
    sent_day: int = 0
    dead: int = 0
    retrying: int = 0
    health: Health | None = None  # None for the registration callback: not the city link

    @property
    def oldest_age(self) -> timedelta | None:
        return timezone.now() - self.oldest if self.oldest else None


@dataclass
class CommunityLink:
    community: Community
    state: LinkState | None
    endpoints: list[EndpointFigures] = field(default_factory=list)
    health: Health = Health.HEALTHY

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
        return self.health.alerting

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
        """Worst first: the state, then dead letters, then the oldest waiting record, then the backlog."""
        age = self.oldest_age.total_seconds() if self.oldest_age else 0
        return (self.health.rank, self.dead > 0, age, self.backlog)


def _city_health(community: Community, state: LinkState | None, figures: Iterable[EndpointFigures],
                 now: datetime) -> Health:
    city = [f for f in figures if f.endpoint in CITY_ENDPOINTS]
    oldest = [f.oldest for f in city if f.oldest is not None]
    return link_state(halted=bool(community.uploads_halted_reason),
                      last_success_at=state.last_success_at if state else None,
                      last_error_at=state.last_error_at if state else None,
                      backlog=sum(f.backlog for f in city), oldest=min(oldest) if oldest else None,
                      retrying=sum(f.retrying for f in city), now=now)


def links(communities: Iterable[Community], now: datetime | None = None) -> list[CommunityLink]:
    """Figures and state of each community's link, worst first. Two queries whatever the table sizes
    (one grouped aggregate over the outbox's (community, endpoint, status, …) index, one for the states)."""
    now = now or timezone.now()
    communities = list(communities)
    ids = [c.pk for c in communities]
    rows = (OutboxRecord.objects.filter(community_id__in=ids).values("community_id", "endpoint").annotate(
        backlog=Count("id", filter=Q(status__in=BACKLOG)),
        oldest=Min("created_at", filter=Q(status__in=BACKLOG)),
        retrying=Count("id", filter=Q(status__in=BACKLOG, attempts__gt=0)),
        sent_hour=Count("id", filter=Q(status=OutboxRecord.Status.SENT, sent_at__gte=now - timedelta(hours=1))),
        sent_day=Count("id", filter=Q(status=OutboxRecord.Status.SENT, sent_at__gte=now - timedelta(days=1))),
        dead=Count("id", filter=Q(status=OutboxRecord.Status.DEAD))).order_by())
    figures = {(r["community_id"], r["endpoint"]): r for r in rows}
    states = {s.community_id: s for s in LinkState.objects.filter(community_id__in=ids)}
    result = []
    for community in communities:
        state = states.get(community.pk)
        link = CommunityLink(community, state)
        for endpoint in Endpoint:
            row = figures.get((community.pk, endpoint.value), {})
            link.endpoints.append(EndpointFigures(
                endpoint.value, str(endpoint.label), row.get("backlog", 0), row.get("oldest"),
                row.get("sent_hour", 0), row.get("sent_day", 0), row.get("dead", 0), row.get("retrying", 0)))
        link.health = _city_health(community, state, link.endpoints, now)
        for figure in link.endpoints:
            if figure.endpoint in CITY_ENDPOINTS:
                # The same rule on one endpoint's backlog. The community's successes and errors are shared (one
                # token, one network), but an endpoint with nothing waiting has nothing failing: it is healthy
                # (or halted with the rest), not degraded by another endpoint's failed request.
                figure.health = _city_health(community, state if figure.backlog else None, [figure], now)
        result.append(link)
    return sorted(result, key=lambda link: link.severity(), reverse=True)


def link_of(community: Community, now: datetime | None = None) -> CommunityLink:
    return links([community], now)[0]


def health_by_community(communities: Iterable[Community]) -> dict[int, Health]:
    return {link.community.pk: link.health for link in links(communities)}


def link_badges(communities: Sequence[Community]) -> dict[int, LinkBadge]:
    """For the community list (communities.link_health): the same state as everywhere else."""
    return {pk: LinkBadge(health.value, health.label, health.css)
            for pk, health in health_by_community(communities).items()}
