"""Deleted residents leave a tombstone, so face panels polling the face list forget them too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from residents.models import Resident

from .models import FaceTombstone


@receiver(post_delete, sender=Resident, dispatch_uid="devices.face_tombstone")
def leave_face_tombstone(sender: type[Resident], instance: Resident, **kwargs: Any) -> None:
    FaceTombstone.objects.create(community_id=instance.community_id, resident_id=instance.pk)
