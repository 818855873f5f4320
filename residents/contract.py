"""The apply-access contract's JSON (interface 1) read into our names, shared by the view that answers
the city and the worker that applies what was accepted.

Only what is particular to interface 1 lives here (JSON types, epoch milliseconds, contract names); the rules
for a person are residents.validation's, shared with the Excel import; the code table interface 1 shares with the
uploads (the person types, and their pass-record types) is uploads.contract's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from communities.models import Community

from .validation import CleanApplication, FieldProblem, check_application

# Ours (validation.py) -> the contract's names, in the contract's order: messages name the
# contract's field, since that is what the city's developers know.
CONTRACT_NAMES = {
    "address": "address", "name": "name", "id_card": "idCard", "photo_url": "photo", "source": "source",
    "person_type": "type", "phone": "phone", "community_id": "communityId", "owner_id": "ownerId",
    "ywlsh": "ywlsh", "sex": "xbdm", "valid_from": "visitTime", "valid_until": "effectiveVisitTime",
}
STRING_FIELDS = ("address", "name", "idCard", "photo", "source", "type", "phone", "communityId", "ownerId", "ywlsh")
EPOCH_FIELDS = ("visitTime", "effectiveVisitTime")
# Every field that may carry text (xbdm may be sent as "1"): checked for storable text first (afxq_portal.text).
TEXT_FIELDS = (*STRING_FIELDS, "xbdm")
# Plausible validity instants (2000-01-01 .. 2100-01-01): outside them a number is a unit mistake
# (seconds instead of milliseconds, say), not a date.
EPOCH_MS_MIN, EPOCH_MS_MAX = 946_684_800_000, 4_102_444_800_000


def epoch_ms(value: Any) -> dt.datetime | None:
    """Epoch milliseconds (a JSON number) to an aware datetime; ValueError when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(_("must be epoch milliseconds (a number) or null"))
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(_("must be whole epoch milliseconds"))
    if not EPOCH_MS_MIN <= value <= EPOCH_MS_MAX:
        raise ValueError(_("is not a plausible time in epoch milliseconds"))
    return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)


def type_problems(data: dict[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """JSON-level checks (which fields are strings, numbers, epoch ms) and the contract-to-ours
    mapping. Values of the wrong type are left out of the mapped dict and reported here."""
    problems: list[FieldProblem] = []
    ours: dict[str, Any] = {}
    reverse = {contract: own for own, contract in CONTRACT_NAMES.items()}
    for field in STRING_FIELDS:
        value = data.get(field)
        if value is None:
            # Every string field of the contract is required: said here too, so that a call with no
            # usable communityId still lists everything that is missing.
            problems.append(FieldProblem(reverse[field], _("is required")))
        elif not isinstance(value, str):
            problems.append(FieldProblem(reverse[field], _("must be a string")))
        else:
            ours[reverse[field]] = value
    sex = data.get("xbdm")
    if isinstance(sex, bool) or (sex is not None and not isinstance(sex, int | str)):
        problems.append(FieldProblem("sex", _("must be 0 (female), 1 (male) or 2 (unknown)")))
    elif sex is None:
        problems.append(FieldProblem("sex", _("is required")))
    else:
        ours["sex"] = str(sex)
    for field in EPOCH_FIELDS:
        try:
            ours[reverse[field]] = epoch_ms(data.get(field))
        except ValueError as exc:
            problems.append(FieldProblem(reverse[field], str(exc)))
    return ours, problems


def read_application(community: Community, data: dict[str, Any]) -> tuple[CleanApplication | None,
                                                                           list[FieldProblem]]:
    """The person of one call, checked against ``community``."""
    ours, problems = type_problems(data)
    application, rule_problems = check_application(community, ours)
    problems += rule_problems
    return (None if problems else application), problems


def format_problems(problems: list[FieldProblem]) -> str:
    """``field: reason; field: reason`` in the contract's order and names, one reason per field."""
    order = list(CONTRACT_NAMES)
    seen: set[str] = set()
    parts = []
    for problem in sorted(problems, key=lambda p: order.index(p.field) if p.field in order else len(order)):
        if problem.field in seen:  # one reason per field: the first (a type error) explains the rest
            continue
        seen.add(problem.field)
        parts.append(f"{CONTRACT_NAMES.get(problem.field, problem.field)}: {problem.message}")
    return "; ".join(parts)
