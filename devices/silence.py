"""Devices that stop talking: a device silent longer than DEVICE_SILENT_AFTER_SECONDS is an incident, told to its
community's support contacts once, and once more when it is heard from again.

Once per incident: each transition is a guarded UPDATE of ``Device.silent_alerted_at``, so however many beat
runs or workers evaluate at once, one of them sends. A community's devices that fall silent in the same check
(a switch or the site's network down) go out as one message. Only devices heard from at least once count: a
key issued for a device not yet installed is not an incident (the dashboard still lists it as silent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from communities.models import Community
from communities.support import notify_support

from .models import Device

# Functions returning ids of devices whose silence another app alerts (a face terminal's own offline alert):
# registered by that app (it is above devices, which may not import it).
_WATCHED_ELSEWHERE: list[Callable[[], Iterable[int]]] = []


def watched_elsewhere(ids: Callable[[], Iterable[int]]) -> None:
    if ids not in _WATCHED_ELSEWHERE:
        _WATCHED_ELSEWHERE.append(ids)


def silent_limit(now: datetime) -> datetime:
    """Devices last seen before this are silent: the one rule, for the dashboard and the alerts."""
    return now - timedelta(seconds=settings.DEVICE_SILENT_AFTER_SECONDS)


def check_silent_devices(now: datetime | None = None) -> dict[str, int]:
    """Alert the newly silent and the newly back; returns how many of each were told."""
    now = now or timezone.now()
    limit = silent_limit(now)
    others = {pk for ids in _WATCHED_ELSEWHERE for pk in ids() if pk is not None}
    live = Device.objects.filter(revoked_at__isnull=True, last_seen_at__isnull=False).exclude(pk__in=others)
    went_silent = [d for d in live.filter(last_seen_at__lt=limit, silent_alerted_at__isnull=True).select_related(
        "point__community") if Device.objects.filter(pk=d.pk, silent_alerted_at__isnull=True).update(
        silent_alerted_at=now)]
    came_back = [d for d in live.filter(last_seen_at__gte=limit, silent_alerted_at__isnull=False).select_related(
        "point__community") if Device.objects.filter(pk=d.pk, silent_alerted_at__isnull=False).update(
        silent_alerted_at=None)]
    # A revoked device is no longer expected to talk: its incident ends without a message.
    Device.objects.filter(revoked_at__isnull=False, silent_alerted_at__isnull=False).update(silent_alerted_at=None)
    for community, devices in by_community(went_silent):
        notify_support(community, _("[afxq] %(name)s: %(n)d device(s) silent") % {"name": community.name,
                                                                                   "n": len(devices)},
                       _("No contact for over %(minutes)d minutes from these devices of %(name)s (%(id)s):\n"
                         "%(lines)s\nTheir events do not reach the city while they are silent: check their power "
                         "and network.") % {"minutes": settings.DEVICE_SILENT_AFTER_SECONDS // 60,
                                            "name": community.name, "id": community.city_id,
                                            "lines": device_lines(devices)},
                       "silent", about="device")
    for community, devices in by_community(came_back):
        notify_support(community, _("[afxq] %(name)s: %(n)d device(s) back") % {"name": community.name,
                                                                                "n": len(devices)},
                       _("These devices of %(name)s (%(id)s) are heard from again:\n%(lines)s") % {
                           "name": community.name, "id": community.city_id, "lines": device_lines(devices)},
                       "back", about="device")
    return {"silent": len(went_silent), "back": len(came_back)}


def by_community(devices: Iterable[Device]) -> list[tuple[Community, list[Device]]]:
    grouped: dict[int, list[Device]] = defaultdict(list)
    for device in devices:
        grouped[device.point.community_id].append(device)
    return [(group[0].point.community, group) for group in grouped.values()]


def device_lines(devices: list[Device]) -> str:
    return "\n".join(
        _("- %(device)s at point %(point)s, last contact %(seen)s") % {
            "device": d.name or d.key_prefix, "point": d.point.number,
            "seen": timezone.localtime(d.last_seen_at).strftime("%Y-%m-%d %H:%M:%S") if d.last_seen_at else "-"}
        for d in devices)
