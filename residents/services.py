"""State-changing operations on people. Each runs in a transaction and writes a history row."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .models import Resident, ResidentChange


@transaction.atomic
def change_status(
    resident: Resident,
    new_status: str,
    *,
    acting_user: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
) -> ResidentChange:
    """Move ``resident`` to ``new_status`` and record who did it, when, from what and why."""
    locked = Resident.objects.select_for_update().get(pk=resident.pk)
    old_status = locked.status
    locked.status = new_status
    update_fields = ["status", "updated_at"]
    if acting_user is not None:
        locked.reviewed_by, locked.reviewed_at = acting_user, timezone.now()
        update_fields += ["reviewed_by", "reviewed_at"]
    if new_status == Resident.Status.REJECTED:
        locked.reject_reason = reason
        update_fields.append("reject_reason")
    locked.save(update_fields=update_fields)
    resident.refresh_from_db()
    return ResidentChange.objects.create(
        resident=locked, actor=acting_user, actor_label=actor_label,
        from_status=old_status, to_status=new_status, reason=reason,
    )
