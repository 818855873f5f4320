"""What one request of events gets: an answer per event, a refusal naming the field, and the budget of
image work that bounds the request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from ..models import DeviceEvent
    from .events import Draft


class Refused(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class OverBudget(Exception):
    """The request's budget of image work is spent: the event is left untouched, for the device to resend."""


def max_pixels_per_request() -> int:
    return settings.DEVICE_API_MAX_PIXELS_PER_REQUEST


def budget_seconds() -> float:
    return settings.DEVICE_API_BUDGET_SECONDS


@dataclass
class Budget:
    """What one request may ask of the image pipeline: decoded pixels (from the images' headers, before any
    decode) and wall-clock time since the request began. Both stay well under gunicorn's timeout, so the
    request always gets its answer; the events beyond them are refused, to be sent again."""

    max_pixels: int
    deadline: float
    pixels: int = 0
    events: int = 0
    spent: bool = False

    @classmethod
    def for_request(cls, started: float | None = None) -> Budget:
        start = time.monotonic() if started is None else started
        return cls(max_pixels=max_pixels_per_request(), deadline=start + budget_seconds())

    def admit(self, pixels: int) -> None:
        """Charge an event's pixels before its images are decoded, or raise OverBudget. The first event is
        always admitted (each of its images is within every limit), so that every request makes progress;
        once one event is over, so is every later one, and the device resends the tail in order."""
        if self.events and (self.spent or self.pixels + pixels > self.max_pixels
                            or time.monotonic() > self.deadline):
            self.spent = True
            raise OverBudget
        self.pixels += pixels
        self.events += 1


class Deferred(Refused):
    """Refused only because the request's budget was spent: nothing of the event was stored or processed."""

    def __init__(self) -> None:
        super().__init__("event", _(
            "not processed: this request reached its limit of image work (%(mp)d megapixels or %(s)d seconds); "
            "nothing of this event was stored: send it again in another request")
            % {"mp": max_pixels_per_request() // 1_000_000, "s": budget_seconds()})


@dataclass
class Answer:
    index: int
    event: DeviceEvent | None = None
    errors: list[Refused] = field(default_factory=list)
    duplicate: bool = False
    # Checked and processed, not yet stored: ``store_drafts`` stores every draft of the request at once.
    draft: Draft | None = None
    # Refused for a reason of the server's (budget, storage): the same event, sent again, can be accepted.
    resend: bool = False

    def as_dict(self) -> dict[str, Any]:
        if self.event is not None:
            answer = {"index": self.index, "status": "accepted", "id": self.event.out_id}
            return {**answer, "duplicate": True} if self.duplicate else answer
        first = self.errors[0]
        refusal = {"index": self.index, "status": "refused", "field": first.field, "reason": first.reason,
                   "errors": [{"field": e.field, "reason": e.reason} for e in self.errors]}
        return {**refusal, "resend": True} if self.resend else refusal


