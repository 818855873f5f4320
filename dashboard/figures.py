"""Every figure on the dashboard, for a set of communities the user manages. Each section is one grouped
query (or two), bounded by the indexes whatever the table sizes: the events by (community, occurred_at), the
outbox by (community, endpoint, status, …), people by community; no per-row Python loop over events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from communities.models import Community, MonitoringPoint
from devices.models import Device, DeviceEvent, RefusedEvent
from devices.silence import silent_limit
from residents.excel.models import ImportJob
from residents.models import Resident
from terminals.status import TerminalLine
from terminals.status import lines as terminal_lines
from uploads import monitoring
from uploads.models import OutboxRecord

# A community page lists at most this many devices (silent ones first) and running imports.
MAX_DEVICES = 200
MAX_JOBS = 20
# The commonest reasons of today's refused events shown on a community's page.
TOP_REFUSALS = 3


def day_start(now: datetime) -> datetime:
    """Midnight of today in the portal's time zone (Asia/Shanghai): "today" as staff mean it."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class People:
    pending: int = 0
    approved_today: int = 0
    rejected_today: int = 0
    expiring_week: int = 0


def people(ids: Sequence[int], now: datetime) -> dict[int, People]:
    today = day_start(now)
    rows = Resident.objects.filter(community_id__in=ids).values("community_id").annotate(
        pending=Count("id", filter=Q(status=Resident.Status.PENDING)),
        approved_today=Count("id", filter=Q(status=Resident.Status.ACTIVE, reviewed_at__gte=today)),
        rejected_today=Count("id", filter=Q(status=Resident.Status.REJECTED, reviewed_at__gte=today)),
        expiring_week=Count("id", filter=Q(status=Resident.Status.ACTIVE, valid_until__gte=now,
                                           valid_until__lt=now + timedelta(days=7)))).order_by()
    result = {pk: People() for pk in ids}
    for row in rows:
        pk = row.pop("community_id")
        result[pk] = People(**row)
    return result


@dataclass
class PointCount:
    point_id: int | None
    number: str
    location: str
    direction: str
    count: int


def passes_today(ids: Sequence[int], now: datetime) -> dict[int, list[PointCount]]:
    """Today's events per community, point and direction (passes and snapshots together, as a point has one kind)."""
    rows = DeviceEvent.objects.filter(community_id__in=ids, occurred_at__gte=day_start(now)).values(
        "community_id", "point_id", "direction").annotate(n=Count("id")).order_by()
    points = {p["id"]: p for p in MonitoringPoint.objects.filter(community_id__in=ids).values("id", "number", "location")}
    result: dict[int, list[PointCount]] = defaultdict(list)
    for row in rows:
        point = points.get(row["point_id"], {"number": "—", "location": ""})
        result[row["community_id"]].append(PointCount(row["point_id"], point["number"], point["location"],
                                                      row["direction"], row["n"]))
    for counts in result.values():
        counts.sort(key=lambda c: (c.number, c.direction))
    return result


def events_today(ids: Sequence[int], now: datetime) -> dict[int, int]:
    rows = DeviceEvent.objects.filter(community_id__in=ids, occurred_at__gte=day_start(now)).values(
        "community_id").annotate(n=Count("id")).order_by()
    return {r["community_id"]: r["n"] for r in rows}


def hourly(ids: Sequence[int], now: datetime) -> list[tuple[datetime, int]]:
    """Events per hour over the last 24 hours (the current hour last), zeros included."""
    zone = timezone.get_current_timezone()
    first = timezone.localtime(now).replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    rows = DeviceEvent.objects.filter(community_id__in=ids, occurred_at__gte=first, occurred_at__lte=now).annotate(
        bucket=TruncHour("occurred_at", tzinfo=zone)).values("bucket").annotate(n=Count("id")).order_by()
    found = {timezone.localtime(r["bucket"]).replace(tzinfo=None): r["n"] for r in rows}
    hours = [first + timedelta(hours=h) for h in range(24)]
    return [(h, found.get(h.replace(tzinfo=None), 0)) for h in hours]


def daily(ids: Sequence[int], now: datetime) -> list[tuple[datetime, int]]:
    """Events per local day over the last 30 days (today last), zeros included."""
    zone = timezone.get_current_timezone()
    first = day_start(now) - timedelta(days=29)
    rows = DeviceEvent.objects.filter(community_id__in=ids, occurred_at__gte=first, occurred_at__lte=now).annotate(
        bucket=TruncDate("occurred_at", tzinfo=zone)).values("bucket").annotate(n=Count("id")).order_by()
    found = {r["bucket"]: r["n"] for r in rows}
    days = [first + timedelta(days=d) for d in range(30)]
    return [(d, found.get(d.date(), 0)) for d in days]


@dataclass
class EndpointLink:
    endpoint: str
    label: str
    health: str  # healthy / degraded / down / halted, or "" for the registration callback
    health_label: str
    health_css: str
    backlog: int
    oldest: datetime | None
    sent_today: int
    last_success: datetime | None
    dead: int


@dataclass
class Link:
    health: monitoring.Health
    backlog: int
    dead: int
    oldest: datetime | None
    last_success: datetime | None
    endpoints: list[EndpointLink] = field(default_factory=list)


def links(communities: Sequence[Community], now: datetime) -> dict[int, Link]:
    """The link pages' figures (uploads.monitoring: the same state) plus sent today and the last success per
    endpoint: one more grouped query over the sent rows (the outbox purges them after a few days)."""
    ids = [c.pk for c in communities]
    sent = OutboxRecord.objects.filter(community_id__in=ids, status=OutboxRecord.Status.SENT).values(
        "community_id", "endpoint").annotate(today=Count("id", filter=Q(sent_at__gte=day_start(now))),
                                             last=Max("sent_at")).order_by()
    sent_by = {(r["community_id"], r["endpoint"]): r for r in sent}
    result = {}
    for link in monitoring.links(communities, now):
        item = Link(link.health, link.backlog, link.dead, link.oldest, link.last_success_at)
        for figure in link.endpoints:
            row = sent_by.get((link.community.pk, figure.endpoint), {})
            health = figure.health
            item.endpoints.append(EndpointLink(
                figure.endpoint, figure.label, health.value if health else "", health.label if health else "",
                health.css if health else "", figure.backlog, figure.oldest, row.get("today", 0), row.get("last"),
                figure.dead))
        result[link.community.pk] = item
    return result


@dataclass
class DeviceLine:
    id: int
    name: str
    point: str
    last_seen: datetime | None
    silent: bool


def devices(ids: Sequence[int], now: datetime) -> dict[int, list[DeviceLine]]:
    """Each (unrevoked) device's last contact, silent ones first."""
    limit = silent_limit(now)
    rows = Device.objects.filter(point__community_id__in=ids, revoked_at__isnull=True).values(
        "id", "name", "key_prefix", "point__number", "point__community_id", "last_seen_at").order_by(
        "point__community_id", "last_seen_at")[:MAX_DEVICES * max(1, len(ids))]
    result: dict[int, list[DeviceLine]] = defaultdict(list)
    for row in rows:
        seen = row["last_seen_at"]
        result[row["point__community_id"]].append(DeviceLine(
            row["id"], row["name"] or row["key_prefix"], row["point__number"], seen, seen is None or seen < limit))
    for lines in result.values():
        lines.sort(key=lambda d: (not d.silent, d.point, d.name))
        del lines[MAX_DEVICES:]
    return result


def silent_devices(ids: Sequence[int], now: datetime) -> dict[int, int]:
    limit = silent_limit(now)
    rows = Device.objects.filter(point__community_id__in=ids, revoked_at__isnull=True).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=limit)).values("point__community_id").annotate(
        n=Count("id")).order_by()
    return {r["point__community_id"]: r["n"] for r in rows}


@dataclass
class Refusals:
    """Today's refused device events of one community, and the commonest (field, reason) pairs among them."""

    today: int = 0
    top: list[tuple[str, str, int]] = field(default_factory=list)


def refusals_today(community_id: int, now: datetime) -> Refusals:
    """One grouped query by (field, reason) over today's range of the (community, received_at) index: the total
    is the sum of the groups, the top ones the largest."""
    rows = list(RefusedEvent.objects.filter(community_id=community_id, received_at__gte=day_start(now)).values(
        "field", "reason").annotate(n=Count("id")).order_by("-n", "field", "reason"))
    return Refusals(sum(r["n"] for r in rows), [(r["field"], r["reason"], r["n"]) for r in rows[:TOP_REFUSALS]])


def imports(ids: Sequence[int]) -> dict[int, list[dict]]:
    """Running Excel imports with their progress (ImportJob.progress, as the import page shows it)."""
    jobs = ImportJob.objects.filter(community_id__in=ids, status__in=ImportJob.ACTIVE).order_by("-created_at")
    result: dict[int, list[dict]] = defaultdict(list)
    for job in jobs[:MAX_JOBS * max(1, len(ids))]:
        result[job.community_id].append({**job.progress(), "name": job.original_name})
    return result


@dataclass
class Summary:
    """One line of the overview of several communities."""

    community: Community
    link: Link
    people: People
    events_today: int
    silent_devices: int
    running_imports: int

    def severity(self) -> tuple:
        """Worst first: the link's state, dead letters, silent devices, then people waiting for review."""
        return (self.link.health.rank, self.link.dead > 0, self.silent_devices, self.people.pending)


def overview(communities: Sequence[Community], now: datetime | None = None) -> list[Summary]:
    now = now or timezone.now()
    communities = list(communities)
    ids = [c.pk for c in communities]
    link_by, people_by, events_by = links(communities, now), people(ids, now), events_today(ids, now)
    silent_by = silent_devices(ids, now)
    running = dict(ImportJob.objects.filter(community_id__in=ids, status__in=ImportJob.ACTIVE).values(
        "community_id").annotate(n=Count("id")).order_by().values_list("community_id", "n"))
    lines = [Summary(c, link_by[c.pk], people_by[c.pk], events_by.get(c.pk, 0), silent_by.get(c.pk, 0),
                     running.get(c.pk, 0)) for c in communities]
    return sorted(lines, key=lambda s: s.severity(), reverse=True)


@dataclass
class CommunityPage:
    community: Community
    people: People
    passes: list[PointCount]
    hourly: list[tuple[datetime, int]]
    daily: list[tuple[datetime, int]]
    link: Link
    devices: list[DeviceLine]
    imports: list[dict]
    refusals: Refusals = field(default_factory=Refusals)
    terminals: list[TerminalLine] = field(default_factory=list)

    @property
    def offline_terminals(self) -> int:
        return sum(1 for t in self.terminals if not t.online)

    @property
    def silent_devices(self) -> int:
        return sum(1 for d in self.devices if d.silent)

    @property
    def events_today(self) -> int:
        return sum(p.count for p in self.passes)


def community_page(community: Community, now: datetime | None = None) -> CommunityPage:
    now = now or timezone.now()
    ids = [community.pk]
    return CommunityPage(community, people(ids, now)[community.pk], passes_today(ids, now).get(community.pk, []),
                         hourly(ids, now), daily(ids, now), links([community], now)[community.pk],
                         devices(ids, now).get(community.pk, []), imports(ids).get(community.pk, []),
                         refusals_today(community.pk, now), terminal_lines(ids).get(community.pk, []))
