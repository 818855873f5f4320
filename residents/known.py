"""What one batch of apply-access calls is checked against, read once for the batch instead of once per call.

The worker applies a community's accepted calls a batch at a time, holding the community's row lock
(services.apply_next_batch). Each call needs the person its ``ywlsh`` already names (a duplicate), the person its
ownerId or ID number names (an update), and its room: six lookups a call, the larger part of the worker's time.
``Known`` reads them for the whole batch in five queries (the people locked, as the per-call lookup locks them) and
is kept up to date as the batch stores people, so that a later call of the same batch sees an earlier one. It
answers only for the keys it read or wrote; anything else is looked up as before. After a call fails (its
savepoint rolled back, perhaps after changing objects held here) it is no longer trusted: the rest of the batch
looks everything up per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q

from afxq_portal.crypto import keyed_hash
from communities.addresses import SevenSegmentAddress
from communities.models import Community, Room
from communities.rooms import RoomKey, resolve_room, room_key

from .models import ApplyAccessCall, Resident, ResidentProposal
from .validation import CleanApplication


@dataclass
class Known:
    community: Community
    ywlsh: dict[str, int | None] = field(default_factory=dict)  # ywlsh -> the person it names, or None
    owners: dict[str, Resident | None] = field(default_factory=dict)  # ownerId -> person
    cards: dict[str, Resident | None] = field(default_factory=dict)  # ID number's keyed hash -> person
    rooms: dict[RoomKey, Room | None] = field(default_factory=dict)
    trusted: bool = True

    @classmethod
    def load(cls, community: Community, applications: Iterable[CleanApplication]) -> Known:
        applications = list(applications)
        known = cls(community)
        serials = {a.ywlsh for a in applications}
        known.ywlsh = dict.fromkeys(serials)
        # The three places a ywlsh is known, as services.is_duplicate reads them (the first wins there too).
        for ywlsh, pk in ResidentProposal.objects.filter(resident__community=community, ywlsh__in=serials).values_list(
                "ywlsh", "resident_id"):
            known.ywlsh[ywlsh] = pk
        for ywlsh, pk in ApplyAccessCall.objects.filter(
                community=community, ywlsh__in=serials, resident__isnull=False,
                outcome=ApplyAccessCall.Outcome.STORED).values_list("ywlsh", "resident_id"):
            known.ywlsh[ywlsh] = pk
        for ywlsh, pk in Resident.objects.filter(community=community, ywlsh__in=serials).values_list("ywlsh", "pk"):
            known.ywlsh[ywlsh] = pk
        owners = {a.owner_id for a in applications}
        cards = {keyed_hash(a.person.id_card) for a in applications}
        known.owners, known.cards = dict.fromkeys(owners), dict.fromkeys(cards)
        for person in Resident.objects.select_for_update().filter(community=community).filter(
                Q(city_owner_id__in=owners) | Q(id_card_hash__in=cards)):
            known.remember(person)
        addresses = [a.person.seven_segment for a in applications if a.person.seven_segment is not None]
        keys = {room_key(address) for address in addresses}
        known.rooms = dict.fromkeys(keys)
        for room in Room.objects.filter(building__community=community,
                                        building__number__in={key[0] for key in keys}).select_related("building"):
            key = (room.building.number, room.unit, room.floor, room.number)
            if key in known.rooms:
                known.rooms[key] = room
        return known

    def remember(self, person: Resident) -> None:
        """``person`` as it is now stored: the keys that named it before no longer do."""
        for table in (self.owners, self.cards):
            for key in [k for k, v in table.items() if v is not None and v.pk == person.pk]:
                table[key] = None
        if person.city_owner_id:
            self.owners[person.city_owner_id] = person
        self.cards[person.id_card_hash] = person

    def duplicate(self, ywlsh: str) -> tuple[bool, Resident | None]:
        """(answered, the person ``ywlsh`` names): not answered for a key the batch did not read."""
        if not self.trusted or ywlsh not in self.ywlsh:
            return False, None
        pk = self.ywlsh[ywlsh]
        return True, (Resident.objects.get(pk=pk) if pk is not None else None)

    def people(self, application: CleanApplication) -> tuple[bool, Resident | None, Resident | None]:
        """(answered, the person of the ownerId, the person of the ID number)."""
        card = keyed_hash(application.person.id_card)
        if not self.trusted or application.owner_id not in self.owners or card not in self.cards:
            return False, None, None
        return True, self.owners[application.owner_id], self.cards[card]

    def room(self, address: SevenSegmentAddress) -> tuple[Room | None, bool]:
        """The room of ``address``, created (flagged) when the community has none: communities.rooms' rule."""
        key = room_key(address)
        if self.trusted and self.rooms.get(key) is not None:
            return self.rooms[key], False
        room, created = resolve_room(self.community, address, create=True)
        if self.trusted:
            self.rooms[key] = room
        return room, created

    def stored(self, ywlsh: str, person: Resident) -> None:
        """A call of the batch was applied: ``ywlsh`` names ``person``, who is stored as ``person`` says."""
        if self.trusted:
            self.ywlsh[ywlsh] = person.pk
            self.remember(person)
