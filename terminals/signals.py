"""A resident's change reaches their terminals within seconds: residents cannot import terminals, so the
receivers are connected from here; each nudges the terminals concerned once the change is committed."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from residents.models import Resident

from .reconcile import nudge, terminals_of_resident


@receiver(post_save, sender=Resident, dispatch_uid="terminals.resident_saved")
def resident_saved(sender: type[Resident], instance: Resident, **kwargs: Any) -> None:
    nudge(terminals_of_resident(instance.pk, instance.community_id))


@receiver(post_delete, sender=Resident, dispatch_uid="terminals.resident_deleted")
def resident_deleted(sender: type[Resident], instance: Resident, **kwargs: Any) -> None:
    nudge(terminals_of_resident(instance.pk, instance.community_id))
