"""Which community a city's ``communityId`` names, for the hot path of apply-access.

Every call names its community; asking the database each time cost about as much as storing the call
(one query, compiled by the ORM). A community changes rarely, so each process remembers what it read
for a few seconds: a save or delete in this process forgets at once (signals), other processes within
COMMUNITY_LOOKUP_CACHE_SECONDS. Whoever acts on the answer (the worker applying an accepted call)
reads the community afresh.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Community

_remembered: dict[str, tuple[float, Community]] = {}
_MAX_REMEMBERED = 10_000


def community_by_city_id(city_id: str) -> Community | None:
    now = time.monotonic()
    hit = _remembered.get(city_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    community = Community.objects.filter(city_id=city_id).first()
    max_age = settings.COMMUNITY_LOOKUP_CACHE_SECONDS
    if community is not None and max_age > 0:
        if len(_remembered) >= _MAX_REMEMBERED:
            _remembered.clear()
        _remembered[city_id] = (now + max_age, community)
    return community


@receiver(post_save, sender=Community, dispatch_uid="communities.lookup.forget_saved")
@receiver(post_delete, sender=Community, dispatch_uid="communities.lookup.forget_deleted")
def forget_communities(**kwargs: object) -> None:
    _remembered.clear()
