"""Rooms by their 7-segment address: finding one, creating one (flagged for staff to confirm) when a person
arrives at a room we do not know, and an index of a community's rooms for checking many people at once."""

from __future__ import annotations

from .addresses import SevenSegmentAddress
from .models import Building, Community, Room


def resolve_room(community: Community, address: SevenSegmentAddress, *, create: bool) -> tuple[Room | None, bool]:
    """Find the room of a 7-segment address, creating the building and room (flagged for staff to
    confirm) when ``create`` is true. Returns (room, created)."""
    room = Room.objects.filter(
        building__community=community, building__number=address.building,
        unit=address.unit, floor=address.floor, number=address.room,
    ).select_related("building").first()
    if room is not None or not create:
        return room, False
    building, _created = Building.objects.get_or_create(
        community=community, number=address.building, defaults={"needs_confirmation": True})
    room, created = Room.objects.get_or_create(
        building=building, unit=address.unit, floor=address.floor, number=address.room,
        defaults={"needs_confirmation": True})
    return room, created


RoomKey = tuple[str, str, str, str]


def room_key(address: SevenSegmentAddress) -> RoomKey:
    """How a 7-segment address names a room: the same match as :func:`resolve_room`."""
    return (address.building, address.unit, address.floor, address.room)


def room_index(community: Community) -> dict[RoomKey, int]:
    """Every room of a community by :func:`room_key`, in one query, for checking many rows at once."""
    rooms = Room.objects.filter(building__community=community).values_list(
        "building__number", "unit", "floor", "number", "pk")
    return {(b, u, f, n): pk for b, u, f, n, pk in rooms}
