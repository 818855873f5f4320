"""Onboarding (an idempotent upsert of a community, its credentials and its points), guards, rooms."""

from __future__ import annotations

import logging
import re

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from afxq_portal.text import ascii_digits

from .addresses import normalise, parse_standard_address
from .models import Building, Community, Guard, Membership, Room, SiteCredential
from .points import PointSpec, configure_points

log = logging.getLogger(__name__)


@transaction.atomic
def configure_community(
    *,
    city_id: str,
    name: str | None = None,
    address: str | None = None,
    site_credentials: dict[str, str] | None = None,
    points: list[PointSpec] = (),
) -> tuple[Community, list[str]]:
    """Create or update a community. Returns it and a list of human-readable changes (secrets masked)."""
    changes: list[str] = []
    community = Community.objects.select_for_update().filter(city_id=city_id).first()
    if community is None:
        if not name or not address:
            raise ValueError("a new community needs --name and --address")
        community = Community(city_id=city_id, name=name)
        community.set_address(address)
        community.full_clean()
        community.save()
        changes.append(f"created community {city_id} “{name}” at {community.standard_address}")
    else:
        if name and name != community.name:
            changes.append(f"name: “{community.name}” → “{name}”")
            community.name = name
        if address and str(parse_standard_address(address)) != community.standard_address:
            old = community.standard_address
            community.set_address(address)
            changes.append(f"address: {old} → {community.standard_address}")
        community.full_clean()
        community.save()

    if site_credentials:
        credential = SiteCredential.objects.filter(community=community).first() or SiteCredential(community=community)
        changed = [k for k, v in site_credentials.items() if getattr(credential, k, None) != v]
        if changed:
            for key, value in site_credentials.items():
                setattr(credential, key, value)
            credential.save()
            shown = {k: ("******" if k in ("client_secret", "password") else site_credentials[k]) for k in changed}
            changes.append("site credentials: " + ", ".join(f"{k}={v}" for k, v in shown.items()))

    changes.extend(configure_points(community, points))
    return community, changes


@transaction.atomic
def remove_guard(guard: Guard, *, acting_user: AbstractBaseUser | None) -> None:
    """Delete a guard but keep its login, deactivated and renamed: the reviews it made keep their
    author, and its phone number (the login's username) is free for a new guard."""
    user = guard.user
    guard.delete()
    user.is_active = False
    user.username = f"removed-guard-{user.pk}"
    user.set_unusable_password()
    user.save(update_fields=["is_active", "username", "password"])


@transaction.atomic
def add_property_staff(*, username: str, password: str, communities: list[Community], first_name: str = "",
                       acting_user: AbstractBaseUser | None) -> AbstractBaseUser:
    """A property-staff login and its communities in one step: the login exists only with its Membership rows
    (a staff login without one sees nothing and only confuses). Callers check who may do it (platform
    administrators: logins span communities)."""
    if not communities:
        raise ValueError("property staff need at least one community")
    user = get_user_model().objects.create_user(username=username, password=password, first_name=first_name,
                                                is_staff=True, is_superuser=False)
    Membership.objects.bulk_create([Membership(user=user, community=community) for community in communities])
    log.info("%s added property staff %s for %s", acting_user, username,
             ", ".join(sorted(c.city_id for c in communities)))
    return user


MAX_GENERATED_ROOMS = 2000


class RoomRangeError(ValueError):
    """A range of units, floors or room numbers that cannot be understood (message for users)."""


def parse_segment_range(text: str) -> list[str]:
    """``1-3`` → 1, 2, 3; ``01-04`` keeps the zero padding; ``1,3,5-6`` mixes both; ``B1`` stays as is."""
    values: list[str] = []
    for part in normalise(text).replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if re.fullmatch(r"-?[0-9A-Za-z]+", part):  # one value; -1 is a basement floor
            values.append(part)
            continue
        low, _sep, high = part.partition("-")
        if not (ascii_digits(low) and ascii_digits(high)) or int(low) > int(high):
            raise RoomRangeError(_("“%(part)s” is not a range like 1-6") % {"part": part})
        width = len(low) if low.startswith("0") else 0
        values.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    if not values:
        raise RoomRangeError(_("is empty"))
    return list(dict.fromkeys(values))


@transaction.atomic
def generate_rooms(building: Building, *, units: list[str], floors: list[str], numbers: list[str],
                   acting_user: AbstractBaseUser | None) -> int:
    """Create every unit × floor × number room of a building that does not exist yet; returns how many."""
    wanted = [(u, f, n) for u in units for f in floors for n in numbers]
    if len(wanted) > MAX_GENERATED_ROOMS:
        raise RoomRangeError(_("%(n)d rooms at once is too many (at most %(max)d)")
                             % {"n": len(wanted), "max": MAX_GENERATED_ROOMS})
    existing = set(building.rooms.values_list("unit", "floor", "number"))
    new = [Room(building=building, unit=u, floor=f, number=n) for u, f, n in wanted if (u, f, n) not in existing]
    Room.objects.bulk_create(new)
    return len(new)
