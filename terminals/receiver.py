"""The receiver of a terminal's event pushes: POST /terminals/<event_secret>/events (the secret in the URL is the
terminal's identity: terminals cannot send our device key). Answers 200 only once every pass of the push is
stored (or refused for good, kept by the ingest), 503 when it could not be stored (the terminal sends it again),
400 for a body that is not a push, 404 for an unknown secret. Heartbeats only mark the terminal as heard from."""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from afxq_portal.text import ascii_digits
from devices.api import max_body_bytes

from .events import NotStored, ingest_pass, note_events
from .models import Terminal
from .registry import driver_of

log = logging.getLogger(__name__)


def answer(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def receive_events(request: HttpRequest, secret: str) -> HttpResponse:
    started = time.monotonic()
    terminal = (Terminal.objects.select_related("point__community", "device__point__community")
                .filter(event_secret=secret).first())
    if terminal is None or not secret:
        return answer(404, "unknown terminal")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if (int(declared) if ascii_digits(declared) else 0) > max_body_bytes():
        return answer(413, f"the body is over {max_body_bytes()} bytes")
    try:
        with driver_of(terminal) as driver:
            # The whole header: a multipart push needs its boundary (request.content_type drops it).
            events = driver.parse_push(request.META.get("CONTENT_TYPE", ""), request.body)
    except ValueError as exc:
        return answer(400, str(exc)[:300])
    if not terminal.events_enabled:
        note_events(terminal, [])
        return answer(200, "events are not received from this terminal")
    try:
        for event in events:
            if event.is_pass:
                ingest_pass(terminal, event, started)
    except (NotStored, DatabaseError, OSError) as exc:
        log.error("terminal %s: a pushed event could not be stored: %s", terminal.pk, type(exc).__name__)
        return answer(503, "not stored: send it again")
    note_events(terminal, events)
    return answer(200, "ok")
