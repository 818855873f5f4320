"""Why a record has not left yet, in words for its admin change page: halted (the credentials were
refused at …), waiting for its backoff until … (local time, Asia/Shanghai), or a dead letter because …"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from afxq_portal.pii import mask_text

from .models import Endpoint, OutboxRecord

# The city's and the community's clock: what staff read on their walls, whatever the server's TIME_ZONE.
LOCAL = ZoneInfo("Asia/Shanghai")


def local(moment: datetime | None) -> str:
    return timezone.localtime(moment, LOCAL).strftime("%Y-%m-%d %H:%M:%S") if moment else "?"


def held_back_reason(record: OutboxRecord, now: datetime | None = None) -> str:
    """Empty when nothing holds the record back (sent, or due now)."""
    now = now or timezone.now()
    error = mask_text(record.last_error[:300])  # the city's error may echo a record's fields
    if record.status == OutboxRecord.Status.DEAD:
        return _("Dead letter because: %(error)s (after %(attempts)d attempts)") % {
            "error": error or _("no error recorded"), "attempts": record.attempts}
    if record.status == OutboxRecord.Status.SENT:
        return ""
    community = record.community
    if community.uploads_halted_reason and record.endpoint != Endpoint.REGISTRATION_CALLBACK:
        return _("Halted: the city refused the credentials at %(at)s (%(reason)s). Uploads resume when the "
                 "credentials are saved again or from the link page.") % {
            "at": local(community.uploads_halted_at), "reason": mask_text(community.uploads_halted_reason)}
    if record.status == OutboxRecord.Status.IN_FLIGHT:
        return _("Being sent (lease until %(at)s).") % {"at": local(record.lease_until)}
    if record.next_attempt_at > now:
        return _("Waiting for the backoff until %(at)s after %(attempts)d failed attempts; last error: "
                 "%(error)s") % {"at": local(record.next_attempt_at), "attempts": record.attempts,
                                 "error": error or "—"}
    return ""
