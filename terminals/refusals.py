"""What a terminal refused, in Chinese for staff: the vendor-independent code's meaning, then the terminal's
own words (they name the detail: which field, which limit)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .vendors.base import REFUSAL_CODES

CODE_LABELS = {
    "face_quality": gettext_lazy("the terminal found no usable face in the photo"),
    "face_too_large": gettext_lazy("the face photo is over the terminal's size limit"),
    "library_full": gettext_lazy("the terminal's face library or person list is full"),
    "name_invalid": gettext_lazy("the terminal refuses the name (too long or a character it cannot take)"),
    "bad_field": gettext_lazy("the terminal refused a field"),
    "not_found": gettext_lazy("the person is not on the terminal"),
    "auth": gettext_lazy("the terminal refused the login"),
}
assert set(CODE_LABELS) == set(REFUSAL_CODES), "a refusal code without its meaning"


def refusal_text(code: str, reason: str) -> str:
    label = CODE_LABELS.get(code)
    if label and reason:
        return _("%(meaning)s (the terminal: %(reason)s)") % {"meaning": label, "reason": reason}
    return str(label) if label else (_("refused by the terminal: %(reason)s") % {"reason": reason})


def member_refusal(member: object) -> str:
    """The reason shown for a member (TerminalMember) not on the terminal as they should be, or a dash."""
    code, reason = getattr(member, "refusal_code", ""), getattr(member, "refusal_reason", "")
    if getattr(member, "status", "") == "refused":
        return refusal_text(code, reason)
    return reason or "—"  # retrying: the last error (a timeout, the terminal offline)
